// The file-sync move end to end on the sandbox's real sshd, rsync and BIND, driven through the CLI services,
// with a live writer: what a user would check after a migration (files, checksums, DNS).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { storageFromEnv } from '../../activities/clients/gcs';
import { lookupA } from '../../activities/dns';
import { UserError } from '../../scripts/cli/errors';
import * as svc from '../../scripts/cli/services';
import { startFileWriter } from '../../scripts/workload/file-writer';
import { fencedPath, type MigrationStatus } from '../../workflows/shared';
import { sandboxSshHost, setSandboxRecord } from '../../scripts/sandbox/endpoints';
import { atGate } from '../helpers/migrations';
import { fileSyncFixture, treeDigest, type FileSyncFixture } from '../helpers/sandbox';
import { eventually, killWorkerProcess, startWorkerProcess, temporalTestEnv, uniqueQueue, withPlanWorkers, withWorker, type TemporalTestEnv } from '../helpers/temporal';
import { personKeyFile, sandboxSigningKeys } from '../../scripts/sandbox/people';
import { loadSandbox } from '../../scripts/sandbox/endpoints';

const root = path.resolve(__dirname, '..', '..');
let env: TemporalTestEnv;
let services: svc.Services;
const fixtures: FileSyncFixture[] = [];

beforeAll(async () => {
  env = await temporalTestEnv();
  // alice and bob sign with their sandbox keys (scripts/sandbox/people.ts).
  services = await svc.connect({ signingKeys: sandboxSigningKeys(loadSandbox().stateDir) });
});
afterAll(async () => {
  for (const f of fixtures) f.cleanup();
  await services?.close();
  await env?.close();
});

function fixture(opts: Parameters<typeof fileSyncFixture>[0] = {}): FileSyncFixture {
  const f = fileSyncFixture(opts);
  fixtures.push(f);
  return f;
}

/** The CLI as a user runs it, asynchronously: the in-process worker must keep answering meanwhile. */
function cutoverCli(args: string[], extraEnv: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(root, 'scripts', 'cutover.js'), ...args], { env: { ...process.env, ...extraEnv } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const dnsOf = (f: FileSyncFixture) => ({ server: f.sb.dns.server, port: f.sb.dns.port, name: f.dnsName });

describe('file-sync end to end', () => {
  it('moves a live tree: second-person approval, freeze, fence, final sync, verify, DNS switched; a writer that keeps the old address for the TTL loses nothing', async () => {
    // The record's TTL is 4 s; the writer caches the address that long, looking it up as it stops for the
    // freeze: after the unfreeze it keeps writing to dc1 for most of a TTL. Those writes must fail (the fence),
    // never land silently in dc1's old tree.
    const ttl = 4;
    const f = fixture({ files: 300, bytesPerFile: 16_384, ttl });
    const s = { ...services, taskQueue: uniqueQueue('e2e-fs') };
    const dc1 = f.sb.hosts.dc1.address;
    const dc2 = f.sb.hosts.dc2.address;
    const writer = startFileWriter({
      dns: dnsOf(f),
      roots: { [dc1]: f.sourceDir, [dc2]: f.targetDir },
      freezeFlag: f.freezeFlag,
      intervalMs: 20,
      cacheTtlMs: ttl * 1000,
      refreshOnFreeze: true,
    });
    let final: MigrationStatus;
    try {
      final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id, link } = await svc.startMigration(s, f.planFile, 'alice');
        expect(link).toContain(encodeURIComponent(id));
        const atCutover = await atGate(s, id, 'cutover');
        expect(atCutover.gate!.evidence.sourceFiles).toBeGreaterThanOrEqual(300);
        expect(atCutover.gate!.evidence.liveVerifiedFiles).toBeGreaterThanOrEqual(300);
        expect(atCutover.steps.find((st) => st.name === 'verify-live')?.summary).toMatch(/no wrong copy/);

        await expect(svc.decide(s, id, 'cutover', 'go', 'alice')).rejects.toThrow(/alice started this migration.*second person/);
        await expect(svc.decide(s, id, 'cutover', 'go', 'mallory')).rejects.toThrow(UserError);
        await svc.decide(s, id, 'cutover', 'go', 'bob', 'caught up');
        const status = await svc.waitForEnd(s, id);
        // Let the writer's cache run out: its writes then land on dc2.
        await eventually(async () => writer.written.filter((w) => w.address === dc2).length >= 5, 'writes on dc2', 30_000);
        return status;
      });
    } finally {
      await writer.stop();
    }
    expect(final.outcome, final.failure ?? '').toBe('completed');
    expect(final.decisions.map((d) => [d.by, d.decision])).toEqual([['bob', 'go']]);
    expect(await lookupA(dnsOf(f))).toEqual([dc2]);
    expect(final.steps.map((st) => st.name).slice(-6)).toEqual(['freeze', 'fence-source', 'final-sync', 'verify-frozen', 'switch-traffic', 'unfreeze']);

    // dc1 is fenced: its tree kept aside, a read-only marker at its path.
    expect(statSync(f.sourceDir).isFile()).toBe(true);
    expect(readFileSync(f.sourceDir, 'utf8')).toMatch(/^cutover fence: .* moved to dc2:/);
    const isTmp = (rel: string) => rel.endsWith('.tmp');
    const source = treeDigest(fencedPath(f.sourceDir), isTmp);
    const target = treeDigest(f.targetDir);
    const onDc1 = writer.written.filter((w) => w.address === dc1);
    const onDc2 = writer.written.filter((w) => w.address === dc2);
    expect(onDc1.length).toBeGreaterThan(0);
    // Late writes: aimed at dc1 after the unfreeze with the cached address, each failed loudly at the fence.
    const unfrozenAt = Date.parse(final.steps.find((st) => st.name === 'unfreeze')!.endedAt!);
    const late = writer.failed;
    expect(late.length).toBeGreaterThan(0);
    for (const w of late) expect([w.address, w.error], w.file).toEqual([dc1, 'ENOTDIR']);
    expect(late.every((w) => w.at >= unfrozenAt - 1000)).toBe(true);
    // Nothing the writer counted as written is lost: every write, on either side, is on dc2 with its content.
    for (const w of writer.written) expect(readFileSync(path.join(f.targetDir, w.file), 'utf8'), `${w.file} (${w.address})`).toBe(w.content);
    // Every file of dc1 is on dc2 with the same checksum; dc1 holds nothing written after the freeze.
    expect(source.size).toBe(300 + onDc1.length);
    for (const [rel, sum] of source) expect(target.get(rel), rel).toBe(sum);
    for (const w of onDc2) expect(target.has(w.file) && !source.has(w.file), w.file).toBe(true);
    expect(target.size).toBe(source.size + onDc2.length);
    expect(existsSync(path.join(f.targetDir, 'scratch.tmp'))).toBe(false);
    expect(final.figures.verifiedFiles).toBe(source.size);
    expect(final.figures.frozenWindowMs).toBeGreaterThan(0);
    console.log(`late writer: ${onDc1.length} writes on dc1 before the freeze, ${late.length} late writes refused by the fence, ${onDc2.length} on dc2; frozen ${final.figures.frozenWindowMs} ms`);
    // The run's report is an artifact in GCS (the sandbox's emulator), with the decision and its evidence.
    // One report per run (its first run id): a second run with the same workflow id never overwrites it.
    const object = `reports/file-sync-e2e-${f.id}/${final.signing!.runId}.json`;
    expect(final.figures.reportUri).toBe(`gs://${f.sb.gcs.bucket}/${object}`);
    const [body] = await storageFromEnv().bucket(f.sb.gcs.bucket).file(object).download();
    const stored = JSON.parse(body.toString()) as MigrationStatus;
    expect(stored.outcome).toBe('completed');
    expect(stored.decisions[0]).toMatchObject({ by: 'bob', decision: 'go', evidence: { lastPass: expect.any(String) }, fingerprint: expect.stringMatching(/^SHA256:/) });
  });

  it('a DNS switch back that fails during the rollback stops it before unfreeze and removal: writers stay frozen, dc1 fenced, dc2 kept', async () => {
    // Writers held for the TTL after the switch (the plan asks): a window in which the run is aborted.
    const f = fixture({ files: 40, holdWritersForTtl: true, ttl: 60 });
    const s = { ...services, taskQueue: uniqueQueue('e2e-fs-back') };
    const dc1 = f.sb.hosts.dc1.address;
    const writer = startFileWriter({ dns: dnsOf(f), roots: { [dc1]: f.sourceDir, [f.sb.hosts.dc2.address]: f.targetDir }, freezeFlag: f.freezeFlag, intervalMs: 20 });
    let final: MigrationStatus;
    let writesAtFreeze = 0;
    try {
      final = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const { id } = await svc.startMigration(s, f.planFile, 'alice');
        await atGate(s, id, 'cutover');
        await svc.decide(s, id, 'cutover', 'go', 'bob');
        await eventually(async () => (await svc.getStatus(s, id)).status.phase === 'hold-writers', 'holding writers', 60_000);
        writesAtFreeze = writer.written.length;
        // Someone else repoints the name: the switch back must refuse to touch it.
        setSandboxRecord(f.sb, f.dnsName, '127.0.9.9');
        await svc.abortMigration(s, id, 'alice', 'dc2 latency alarm');
        return svc.waitForEnd(s, id);
      });
    } finally {
      await writer.stop();
    }
    expect(final.outcome).toBe('manual-intervention-required');
    expect(final.compensations.map((c) => [c.step, c.state])).toEqual([
      ['switch-traffic', 'failed'],
      ['fence-source', 'skipped'],
      ['freeze', 'skipped'],
      ['initial-copy', 'skipped'],
    ]);
    expect(final.compensations[0].error).toMatch(/points at 127\.0\.9\.9, expected 127\.0\.2\.1/);
    expect(final.manualActions).toHaveLength(4);
    expect(final.manualActions[0]).toMatch(/^point e2e-.* back at 127\.0\.1\.1/);
    for (const a of final.manualActions.slice(1)) expect(a).toMatch(/not run because the undo of switch-traffic failed/);
    // Nothing after the failed switch back ran: writers still frozen, dc1 still fenced, the dc2 copy still there.
    expect(existsSync(f.freezeFlag)).toBe(true);
    expect(writer.written.length).toBe(writesAtFreeze);
    expect(statSync(f.sourceDir).isFile()).toBe(true);
    expect(statSync(fencedPath(f.sourceDir)).isDirectory()).toBe(true);
    expect(treeDigest(f.targetDir, (rel) => rel.endsWith('.tmp'))).toEqual(treeDigest(fencedPath(f.sourceDir), (rel) => rel.endsWith('.tmp')));
  });

  it('on real hosts: the fence refuses late writes and comes undone; the live verify finds a wrong copy; the freeze\'s verify finds a write it did not sync', async () => {
    const f = fixture({ files: 30, bytesPerFile: 4096 });
    const acts = createActivities();
    const run = <A, R>(fn: (a: A) => Promise<R>, arg: A): Promise<R> => new MockActivityEnvironment().run(fn, arg) as Promise<R>;
    const failure = async (p: Promise<unknown>) => p.then(() => { throw new Error('expected a failure'); }, (e: ApplicationFailure) => e);
    const h = (dc: 'dc1' | 'dc2') => sandboxSshHost(f.sb, dc);
    const migrationId = `e2e-fence-${f.id}`;
    const source = { host: h('dc1'), path: f.sourceDir };
    const target = { host: h('dc2'), path: f.targetDir };
    const aside = { host: source.host, path: fencedPath(f.sourceDir) };
    const pass = { migrationId, target, exclude: ['*.tmp'], bandwidthLimitKBps: 0 };
    await run(acts.rsyncPass, { ...pass, pass: 'initial', source, delete: false });

    // A wrong copy: same size and time on dc2, other bytes. rsync's quick check would never copy it again.
    const victim = path.join(f.targetDir, 'd0', 'e0', 'f0.bin');
    const t = statSync(victim).mtime;
    writeFileSync(victim, Buffer.alloc(4096, 7));
    utimesSync(victim, t, t);
    const wrong = await failure(run(acts.verifyLive, { migrationId, source, target, exclude: ['*.tmp'] }));
    expect(wrong.type).toBe('VerificationFailed');
    expect(wrong.message).toMatch(/1 file\(s\) .* differ in content .* same size and time, twice in a row.*d0\/e0\/f0\.bin/);
    // A live write (new file) is not a wrong copy: it is for the final sync.
    rmSync(victim);
    writeFileSync(path.join(f.sourceDir, 'live-write.txt'), 'written while live');
    const live = await run(acts.verifyLive, { migrationId, source, target, exclude: ['*.tmp'] });
    expect(live.changedSinceLastPass).toBe(2);

    // The fence: the tree aside, a marker in its place; twice is the same as once.
    expect((await run(acts.fenceSource, { migrationId, source, movedTo: 'dc2:/x' })).already).toBe(false);
    expect((await run(acts.fenceSource, { migrationId, source, movedTo: 'dc2:/x' })).already).toBe(true);
    expect(() => mkdirSync(path.join(f.sourceDir, 'live'), { recursive: true })).toThrow(/ENOTDIR/);
    expect(() => writeFileSync(path.join(f.sourceDir, 'late.txt'), 'late')).toThrow(/ENOTDIR/);
    const final = await run(acts.rsyncPass, { ...pass, pass: 'final', source: aside, delete: true, recordChanges: true });
    expect(final.filesTransferred).toBe(2);
    const verified = await run(acts.verifyFrozen, { migrationId, source: aside, target, exclude: ['*.tmp'] });
    expect(verified).toMatchObject({ files: 31, checksummedFiles: 2 });

    // A writer holding a file open across the fence writes after the final sync: the metadata comparison sees it.
    writeFileSync(path.join(aside.path, 'd1', 'e1', 'f1.bin'), 'appended through an open file', { flag: 'a' });
    const missed = await failure(run(acts.verifyFrozen, { migrationId, source: aside, target, exclude: ['*.tmp'] }));
    expect(missed.type).toBe('VerificationFailed');
    expect(missed.message).toMatch(/difference\(s\) .* after the final sync, first: dc1:.*d1\/e1\/f1\.bin/);

    // Undone: the tree back at its path, the marker gone; twice is the same as once.
    expect((await run(acts.unfenceSource, { source })).already).toBe(false);
    expect((await run(acts.unfenceSource, { source })).already).toBe(true);
    expect(statSync(f.sourceDir).isDirectory()).toBe(true);
    expect(existsSync(aside.path)).toBe(false);
  });

  it('a no-go at the gate rolls back: dc2 copy removed, DNS unchanged, writers never frozen', async () => {
    const f = fixture({ files: 50 });
    const s = { ...services, taskQueue: uniqueQueue('e2e-nogo') };
    const cli = (...args: string[]) => cutoverCli(args, { CUTOVER_TASK_QUEUE: s.taskQueue });
    let id = '';
    const final = await withWorker(env, s.taskQueue, createActivities(), async () => {
      ({ id } = await svc.startMigration(s, f.planFile, 'alice'));
      await atGate(s, id, 'cutover');
      expect(existsSync(f.targetDir)).toBe(true);
      const status = await cli('status', id);
      expect(status.stdout).toMatch(/waiting at gate "cutover"/);
      expect(status.stdout).toContain(`cutover approve ${id} --gate cutover --as NAME`);
      // Signed with bob's key, as bob would: without a key of his, the workflow refuses it.
      const forged = await cli('reject', id, '--gate', 'cutover', '--as', 'bob', '--key', personKeyFile(f.sb.stateDir, 'alice'), '--reason', 'not bob');
      expect(forged.status).toBe(2);
      expect(forged.stderr).toMatch(/no-go refused: signed with key SHA256:\S+, which is not bob's/);
      const reject = await cli('reject', id, '--gate', 'cutover', '--as', 'bob', '--key', personKeyFile(f.sb.stateDir, 'bob'), '--reason', 'dc2 storage alarm');
      expect(reject.status, reject.stderr).toBe(0);
      expect(reject.stdout).toMatch(/no-go recorded at gate cutover by bob \(.*, signed with SHA256:/);
      return svc.waitForEnd(s, id);
    });
    // The record of the run, from the CLI, after the fact.
    const report = await cli('report', id);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/outcome: rolled-back/);
    expect(report.stdout).toMatch(/no-go at cutover by bob .*"dc2 storage alarm"/);
    expect(report.stdout).toMatch(/signed by key SHA256:\S+ at .* over evidence sha256:[0-9a-f]{64}/);
    expect(report.stdout).toMatch(/done\s+initial-copy: .*removed/);
    const late = await cli('approve', id, '--gate', 'cutover', '--as', 'bob');
    expect(late.status).toBe(2);
    expect(late.stderr).toMatch(/^cutover: go refused: /);
    expect(final.outcome).toBe('rolled-back');
    expect(final.failure).toMatch(/no-go at gate "cutover" by bob: dc2 storage alarm/);
    expect(final.compensations.map((c) => [c.step, c.state])).toEqual([['initial-copy', 'done']]);
    expect(existsSync(f.targetDir)).toBe(false);
    expect(existsSync(f.freezeFlag)).toBe(false);
    expect(await lookupA(dnsOf(f))).toEqual([f.sb.hosts.dc1.address]);
    expect(treeDigest(f.sourceDir).size).toBe(51);
  });

  it('a worker killed during the copy: a new worker resumes the transfer and the trees end identical', async () => {
    // 24 MiB at 3 MiB/s: about 8 s of copying, long enough to kill the worker in the middle.
    const f = fixture({ files: 96, bytesPerFile: 256 * 1024, bandwidthLimitKBps: 3072 });
    const taskQueue = uniqueQueue('e2e-kill');
    const s = { ...services, taskQueue };
    const startWorker = () => startWorkerProcess(taskQueue);
    const kill = killWorkerProcess;
    // The freeze hook waits for a writer's acknowledgement: keep one running, as in production.
    const writer = startFileWriter({
      dns: dnsOf(f),
      roots: { [f.sb.hosts.dc1.address]: f.sourceDir, [f.sb.hosts.dc2.address]: f.targetDir },
      freezeFlag: f.freezeFlag,
      intervalMs: 100,
    });
    let worker = startWorker();
    try {
      const { id } = await svc.startMigration(s, f.planFile, 'alice');
      const before = await eventually(async () => {
        const [p] = await svc.liveProgress(s, id);
        const bytes = (p?.details as { bytes?: number } | null)?.bytes ?? 0;
        return bytes > 4 * 1024 * 1024 ? bytes : null;
      }, 'copy under way', 120_000);
      kill(worker);
      const total = 96 * 256 * 1024;
      expect(before).toBeLessThan(total);
      worker = startWorker();
      await atGate(s, id, 'cutover');
      await svc.decide(s, id, 'cutover', 'go', 'bob');
      const final = await svc.waitForEnd(s, id);
      expect(final.outcome, final.failure ?? '').toBe('completed');
      await writer.stop();
      const initial = final.steps.find((st) => st.name === 'initial-copy')!;
      // The second attempt sent only what the first had not: rsync resumed, it did not start over.
      const m = /\((\d+) sent\).*resumed on attempt (\d+)/.exec(initial.summary ?? '');
      expect(m, initial.summary).not.toBeNull();
      expect(Number(m![2])).toBeGreaterThanOrEqual(2);
      expect(Number(m![1])).toBeLessThan(total - before / 2);
    } finally {
      kill(worker);
      await writer.stop();
    }
    const source = treeDigest(fencedPath(f.sourceDir), (rel) => rel.endsWith('.tmp'));
    const target = treeDigest(f.targetDir);
    // Writes after the switch exist on dc2 only; everything from dc1 is there, byte for byte.
    const afterSwitch = new Set(writer.written.filter((w) => w.address === f.sb.hosts.dc2.address).map((w) => w.file));
    expect(new Map([...target].filter(([rel]) => !afterSwitch.has(rel)))).toEqual(source);
  });

  it('`cutover abort` during a real copy stops the remote rsync and removes the partial copy', async () => {
    // 16 MiB at 2 MiB/s: the copy is still running when the abort arrives.
    const f = fixture({ files: 64, bytesPerFile: 256 * 1024, bandwidthLimitKBps: 2048 });
    const taskQueue = uniqueQueue('e2e-abort');
    const s = { ...services, taskQueue };
    const final = await withWorker(env, taskQueue, createActivities(), async () => {
      const { id } = await svc.startMigration(s, f.planFile, 'alice');
      await eventually(async () => {
        const [p] = await svc.liveProgress(s, id);
        return ((p?.details as { bytes?: number } | null)?.bytes ?? 0) > 1024 * 1024;
      }, 'copy under way', 60_000);
      const cli = await cutoverCli(['abort', id, '--as', 'alice', '--reason', 'wrong window'], { CUTOVER_TASK_QUEUE: taskQueue, CUTOVER_SIGNING_KEY: personKeyFile(f.sb.stateDir, 'alice') });
      expect(cli.stderr).toBe('');
      expect(cli.status).toBe(0);
      return svc.waitForEnd(s, id);
    });
    expect(final.outcome).toBe('rolled-back');
    expect(final.failure).toBe('aborted by alice: wrong window');
    expect(final.steps.find((st) => st.name === 'initial-copy')?.state).toBe('failed');
    expect(final.compensations.map((c) => [c.step, c.state])).toEqual([['initial-copy', 'done']]);
    // No rsync left writing into the target: it stays gone.
    await new Promise((r) => setTimeout(r, 1500));
    expect(existsSync(f.targetDir)).toBe(false);
    expect(spawnSync('pgrep', ['-f', `e2e-${f.id}/`]).status).toBe(1);
  });

  it('refuses a bad plan with a message naming the file and the field, and starts nothing', () => {
    const f = fixture({ files: 1 });
    const bad = path.join(path.dirname(f.planFile), `bad-${f.id}.yaml`);
    spawnSync('sh', ['-c', `sed -e 's/host: dc2/host: dc3/' -e 's/threshold: .*/threshold: lots/' ${f.planFile} > ${bad}`]);
    const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'cutover.js'), 'start', bad], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`invalid plan ${bad}`);
    expect(r.stderr).toContain('target.host: unknown host "dc3": hosts are dc1, dc2');
    expect(r.stderr).toContain('options.catchUp.threshold: expected a size');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('`cutover plan` dry-runs the move on a worker: real read-only preflight, the steps and undos from the workflow, an unreachable host named', async () => {
    const f = fixture({ files: 3 });
    const taskQueue = uniqueQueue('e2e-fs-plan');
    const cli = (file: string) => cutoverCli(['plan', file, '--as', 'alice'], { CUTOVER_TASK_QUEUE: taskQueue });
    const bad = path.join(path.dirname(f.planFile), `unreachable-${f.id}.yaml`);
    spawnSync('sh', ['-c', `sed -e 's/address: 127.0.2.1/address: 127.0.9.9/' ${f.planFile} > ${bad}`]);
    const [ok, r] = await withPlanWorkers(env, taskQueue, async () => [await cli(f.planFile), await cli(bad)]);

    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(0);
    expect(ok.stdout).toMatch(/its dry run passed on a worker/);
    expect(ok.stdout).toMatch(/preflight: 4 files, \d+ bytes at the source; target absent/);
    expect(ok.stdout).toMatch(/verify-live: verify every file by checksum while live/);
    expect(ok.stdout).toMatch(/fence-source: fence dc1:.* renamed to .*\.cutover-fenced, a read-only marker in its place/);
    expect(ok.stdout).toMatch(/final-sync: rsync final sync with --delete, from the fenced tree/);
    expect(ok.stdout).toMatch(/verify-frozen: verify what the final sync changed by checksum, the whole tree by metadata/);
    expect(ok.stdout).toMatch(/- freeze: run the unfreeze hook .* \(only once the undo of switch-traffic and fence-source succeeded\)/);
    expect(ok.stdout).toMatch(/unfreeze \(point of no return\): unfreeze writers on dc1/);
    expect(ok.stdout).toMatch(/- switch-traffic: point .* back at 127\.0\.1\.1/);
    expect(existsSync(f.targetDir)).toBe(false); // read-only: nothing created
    expect(existsSync(f.freezeFlag)).toBe(false); // the freeze hook did not run

    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/target host dc2: dc2 \(cutover@127\.0\.9\.9:2222\)/);
    expect(r.stderr).toMatch(/nothing was changed/);
  });
});
