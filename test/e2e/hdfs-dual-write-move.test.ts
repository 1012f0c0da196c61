// The hdfs-dual-write move end to end on the sandbox's two real HDFS clusters (dc1 127.0.1.1 → dc2 127.0.2.1),
// driven through the CLI services as people would (alice starts, bob says go, signed with their sandbox keys), as
// a plain HDFS user `etl` (not the clusters' superuser, so permissions are enforced):
// - two datasets (2,500 small files from a local tree; three large files of 24-40 MiB, in 8 MiB blocks so each has
//   several, from a path on dc1), two refreshes, the
//   cutover: the old paths frozen (another user may no longer write, etl still does), the name on dc2, every file
//   on both clusters as in the source, a file added at the complete gate refreshed to both;
// - a second move with a no-go at complete: the name back on dc1, the permissions as before, nothing lost;
// - shadow jobs over SSH on dc1: WordCount (the local runner) matches on both clusters; a job made to differ on the
//   new cluster in the first cycle alerts a webhook (a local HTTP receiver here) with the file and lines, the clean
//   counter resets, and the gate opens only after a clean cycle; the new cluster's outputs are thrown away;
// - bad input (an unreachable NameNode, a source that does not exist, a path the plan's user may not write):
//   one preflight failure naming each field and host, nothing changed.
// Sizes for `npm test` on this loaded 2-core sandbox: every refresh asks GETFILECHECKSUM of every file on both sides
// (to skip what is there, or to verify what it wrote): ~3.5 s per 1,000 files and both sides; the first write of
// 1,000 small files to both takes 15-22 s (8 or 4 at once per side). The plans here set 8 at once (the schema's
// default is 1).
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import { forEachLimited } from '../../activities/hdfs/refresh';
import { WebHdfsClient, type WebHdfsCluster, WebHdfsError } from '../../activities/hdfs/webhdfs';
import * as svc from '../../scripts/cli/services';
import { sandboxHdfsDualWritePlan, type SandboxHdfsPlanOptions } from '../../scripts/plans/hdfs-dual-write';
import { writePlan } from '../../scripts/plans/sandbox';
import { loadSandbox, setSandboxRecord } from '../../scripts/sandbox/endpoints';
import { sandboxSigningKeys } from '../../scripts/sandbox/people';
import { lookupA } from '../../activities/dns';
import type { MigrationStatus } from '../../workflows/shared';
import { sandboxHdfs } from '../helpers/hdfs';
import { testSecret, type TestSecret } from '../helpers/secrets';
import { atGate, statusWhen } from '../helpers/migrations';
import { eventually, temporalTestEnv, uniqueQueue, withPlanWorkers, withWorker, type TemporalTestEnv } from '../helpers/temporal';

const sb = loadSandbox();
const hdfs = sandboxHdfs();
const id = randomUUID().slice(0, 8);
const root = `/e2e-move-${id}`;
const work = path.join(os.tmpdir(), `cutover-hdfs-move-${id}`);
const USER = 'etl';
const superuser = (dc: 'dc1' | 'dc2'): WebHdfsCluster => ({ name: dc, url: hdfs.clusters[dc].webhdfsUrl, user: hdfs.superuser });
const as = (dc: 'dc1' | 'dc2', user: string) => new WebHdfsClient({ name: dc, url: hdfs.clusters[dc].webhdfsUrl, user });
const admin = { dc1: new WebHdfsClient(superuser('dc1')), dc2: new WebHdfsClient(superuser('dc2')) };
const dnsNames: string[] = [];
let env: TemporalTestEnv;
let services: svc.Services;
/** The local runner's scratch space on the job host, one per run (`{run}`). */
const jobTmp = `/tmp/cutover-e2e-move-${id}`;
let webhook: Server;
let webhookSecret: TestSecret | undefined;
const alerts: string[] = [];

async function setOwner(c: WebHdfsClient, p: string, owner: string): Promise<void> {
  const res = await fetch(await c.url(p, 'SETOWNER', { owner }), { method: 'PUT' });
  if (!res.ok) throw new Error(`SETOWNER ${p}: ${res.status} ${await res.text()}`);
}

/** The small dataset: thousands of files of 0.5-3.5 KB over a few directories. */
const SMALL_FILES = 2500;
/** The large dataset: several blocks each (written to dc1 with LARGE_BLOCK, which the refresh keeps), the last one partial. */
const LARGE_SIZES = [24 << 20, 40 << 20, (40 << 20) + 12_345];
const LARGE_BLOCK = 8 << 20;
const LARGE_BYTES = LARGE_SIZES.reduce((a, b) => a + b, 0);

/** `files` small files over a few directories, and one large file of each of `large`'s sizes. */
function makeTree(dir: string, files: number, large: number[] = []): void {
  for (let i = 0; i < files; i++) {
    const sub = path.join(dir, `day=${i % 5}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, `part-${String(i).padStart(4, '0')}`), randomBytes(500 + ((i * 389) % 3000)));
  }
  large.forEach((size, i) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `big-${i}.bin`), randomBytes(size));
  });
}

/** relative path → sha256 of every file under a local directory. */
function localDigest(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    out.set(path.relative(dir, full), createHash('sha256').update(readFileSync(full)).digest('hex'));
  }
  return out;
}

/** relative path → sha256 of every file under an HDFS directory (read back over WebHDFS, a few at once). */
async function hdfsDigest(c: WebHdfsClient, dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await forEachLimited(await c.walkFiles(dir), 8, async (f) => {
    out.set(f.path, createHash('sha256').update(await c.readFile(`${dir}/${f.path}`)).digest('hex'));
  });
  return out;
}

const sorted = (m: Map<string, string>) => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));

function dnsFor(name: string): string {
  const dnsName = `e2e-hdfs-${name}-${id}.${sb.dns.zone}`;
  setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
  dnsNames.push(dnsName);
  return dnsName;
}

function plan(name: string, o: Omit<SandboxHdfsPlanOptions, 'name' | 'dnsName'> & { dnsName?: string }): string {
  const dnsName = o.dnsName ?? dnsFor(name);
  const raw = sandboxHdfsDualWritePlan(sb, { user: USER, every: '1s', cleanCycles: 2, soak: '0s', ...o, name: `e2e-${name}-${id}`, dnsName }) as { refresh: object };
  return writePlan(path.join(work, 'plans', `${name}.yaml`), { ...raw, refresh: { ...raw.refresh, concurrency: 8 } });
}

beforeAll(async () => {
  env = await temporalTestEnv();
  services = await svc.connect({ signingKeys: sandboxSigningKeys(sb.stateDir) });
  // The move's root on both clusters belongs to etl; the old cluster's `small` exists already, writable by anyone
  // (so the freeze has something to take off); the `large` source is a path on dc1 that etl may read.
  for (const dc of ['dc1', 'dc2'] as const) {
    await admin[dc].mkdirs(root, { permission: '755' });
    await setOwner(admin[dc], root, USER);
  }
  await admin.dc1.mkdirs(`${root}/small`, { permission: '777' });
  await setOwner(admin.dc1, `${root}/small`, USER);
  await admin.dc1.mkdirs(`${root}-src/large`, { permission: '755' });
  makeTree(path.join(work, 'small'), SMALL_FILES);
  makeTree(path.join(work, 'large'), 0, LARGE_SIZES);
  for (const f of readdirSync(path.join(work, 'large'))) await admin.dc1.create(`${root}-src/large/${f}`, readFileSync(path.join(work, 'large', f)), { blockSize: LARGE_BLOCK });
  // A directory etl may not write in (bad input).
  await admin.dc2.mkdirs(`${root}-locked`, { permission: '755' });
  // The alert webhook: records what it is sent.
  webhook = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      alerts.push(body);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', r));
  // The webhook URL is a credential: it lives in the worker's secret store, the plan names it.
  webhookSecret = testSecret(loadSandbox(), 'hdfs-e2e-webhook', `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/hooks/cutover\n`);
}, 180_000);

afterAll(async () => {
  webhookSecret?.remove();
  for (const dc of ['dc1', 'dc2'] as const) {
    for (const p of [root, `${root}-src`, `${root}-locked`]) await admin[dc].delete(p, { recursive: true }).catch(() => undefined);
  }
  for (const n of dnsNames) setSandboxRecord(sb, n, null);
  rmSync(work, { recursive: true, force: true });
  for (const d of readdirSync('/tmp').filter((n) => n.startsWith(path.basename(jobTmp)))) rmSync(path.join('/tmp', d), { recursive: true, force: true });
  webhook?.close();
  await services?.close();
  await env?.close();
});

describe('hdfs-dual-write move on the sandbox clusters', () => {
  it('two datasets, two refreshes, cutover: old paths frozen, the name on dc2, every file on both as in the source, refreshes to both until complete', async () => {
    const s = { ...services, taskQueue: uniqueQueue('e2e-hdfs-move') };
    const dnsName = dnsFor('move');
    const file = plan('move', {
      dnsName,
      datasets: [
        { name: 'small', local: path.join(work, 'small'), path: `${root}/small` },
        { name: 'large', hdfs: `${root}-src/large`, path: `${root}/large` },
      ],
    });
    const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
      const { id: wf } = await svc.startMigration(s, file, 'alice');
      const gate = await statusWhen(s, wf, (st) => st.gate?.name === 'cutover', 'gate cutover', 300_000);
      // Two refreshes, both clean, then the gate (refreshes go on while it waits); the second rewrote nothing.
      const cycles = Number(gate.gate!.evidence.cycles);
      expect(cycles).toBeGreaterThanOrEqual(2);
      expect(gate.gate!.evidence).toMatchObject({ cleanCycles: cycles, verify: 'checksum', alerts: 0 });
      expect(String(gate.gate!.evidence.history)).toMatch(/#2 shadow clean · #1 shadow clean$/);
      expect(gate.steps.find((st) => st.name === 'dual-write')!.summary).toBe('clean period reached after 2 cycles: 2 clean cycles in a row');
      expect(String(gate.figures.lastCycle)).toMatch(new RegExp(`small ${SMALL_FILES} files \\d+ B \\(0 written, verified by file-checksum\\); large 3 files ${LARGE_BYTES} B \\(0 written`));
      // Several blocks each on both clusters, as in the source.
      for (const dc of ['dc1', 'dc2'] as const) {
        for (const f of await admin[dc].walkFiles(`${root}/large`)) expect(f.status.blockSize).toBe(LARGE_BLOCK);
      }
      expect((await admin.dc1.getFileStatus(`${root}/small`)).permission).toBe('777');
      expect(await lookupA({ ...sb.dns, name: dnsName })).toEqual([sb.hosts.dc1.address]);
      await svc.decide(s, wf, 'cutover', 'go', 'bob', 'two clean refreshes');

      await statusWhen(s, wf, (st) => st.gate?.name === 'complete', 'gate complete', 300_000);
      expect(await lookupA({ ...sb.dns, name: dnsName })).toEqual([sb.hosts.dc2.address]);
      // Frozen for everyone else: another user may no longer write on dc1; etl, the owner, keeps refreshing.
      expect((await admin.dc1.getFileStatus(`${root}/small`)).permission).toBe('755');
      const refused = await as('dc1', 'intruder').create(`${root}/small/late.txt`, 'late write').catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(WebHdfsError);
      expect((refused as WebHdfsError).kind).toBe('permission');
      // A file the source gains during the soak reaches both clusters (the gate's evidence runs the due refresh).
      writeFileSync(path.join(work, 'small', 'day=0', 'added-at-complete'), 'written after the switch\n');
      for (const dc of ['dc1', 'dc2'] as const) {
        await eventually(async () => (await admin[dc].stat(`${root}/small/day=0/added-at-complete`)) !== undefined, `the new file on ${dc}`, 60_000);
      }
      await svc.decide(s, wf, 'complete', 'go', 'bob', 'dc2 serves');
      return svc.waitForEnd(s, wf);
    });
    expect(final.outcome).toBe('completed');
    expect(final.steps.find((st) => st.name === 'final-parity')!.summary).toMatch(new RegExp(`small identical on both: ${SMALL_FILES} files.*large identical on both: 3 files, ${LARGE_BYTES} B`));
    // What a user checks afterwards: every file on both clusters as in its source.
    const readBack = Date.now();
    const small = sorted(localDigest(path.join(work, 'small')));
    const large = sorted(localDigest(path.join(work, 'large')));
    for (const dc of ['dc1', 'dc2'] as const) {
      expect(sorted(await hdfsDigest(admin[dc], `${root}/small`))).toEqual(small);
      expect(sorted(await hdfsDigest(admin[dc], `${root}/large`))).toEqual(large);
    }
    const took = (st: { startedAt: string; endedAt?: string }) => (st.endedAt ? `${((Date.parse(st.endedAt) - Date.parse(st.startedAt)) / 1000).toFixed(1)} s` : '-');
    console.log(`move of ${SMALL_FILES} small files + ${LARGE_BYTES} B large: ${final.steps.map((st) => `${st.name} ${took(st)}`).join(', ')}; read back on both ${((Date.now() - readBack) / 1000).toFixed(1)} s`);
  }, 600_000);

  it('shadow jobs: WordCount equal on both; a job that differs on the new cluster alerts with file and lines and resets the counter', async () => {
    const s = { ...services, taskQueue: uniqueQueue('e2e-hdfs-jobs') };
    const words = path.join(work, 'words');
    for (let f = 0; f < 4; f++) {
      mkdirSync(words, { recursive: true });
      writeFileSync(path.join(words, `part-${f}.txt`), Array.from({ length: 30 }, (_, i) => `alpha w${(i * f) % 7} beta${i % 3}`).join('\n') + '\n');
    }
    // As the plan's user, so that cutover (etl) may remove the outputs; a conf dir and the classpath, as the sandbox's.
    const cp = `${hdfs.clusters.dc1.confDir}:${readFileSync(hdfs.classpathFile, 'utf8').trim()}`;
    const client = ['-D', 'dfs.client.use.datanode.hostname=true', '-D', `hadoop.tmp.dir=${jobTmp}-{run}`];
    const wordCount = {
      name: 'wordcount', host: 'dc1', compare: 'sorted-lines', timeout: '5m',
      command: ['env', `HADOOP_USER_NAME=${USER}`, 'java', '-Xmx384m', '-cp', cp, 'org.apache.hadoop.examples.WordCount', '-D', 'mapreduce.framework.name=local', ...client, '-fs', '{fs}', '{dataset:words}', '{output}'],
    };
    // A row count that is one off on the new cluster in the first cycle only (its run id ends in -1-new).
    const rows = {
      name: 'rows', host: 'dc1', compare: 'sorted-lines', timeout: '2m',
      command: [
        'env', `HADOOP_USER_NAME=${USER}`, 'sh', '-c',
        'd=$(mktemp -d) && case "$2" in *-1-new) echo "rows 43";; *) echo "rows 42";; esac > "$d/part-00000" && ' +
          'java -Xmx256m -cp "$1" org.apache.hadoop.fs.FsShell -D dfs.client.use.datanode.hostname=true -fs "$3" -put "$d" "$4"; rc=$?; rm -rf "$d"; exit $rc',
        'sh', cp, '{run}', '{fs}', '{output}',
      ],
    };
    const file = plan('jobs', {
      // Cycles 30 s apart: the first takes about that long, and the gate is decided before the next one is due.
      every: '30s',
      cleanCycles: 1,
      datasets: [{ name: 'words', local: words, path: `${root}/words` }],
      jobs: [wordCount, rows],
      outputRoot: `${root}/shadow`,
      alertWebhook: webhookSecret!.name,
    });
    await withWorker(env, s.taskQueue, createActivities(), async () => {
      const { id: wf } = await svc.startMigration(s, file, 'alice');
      const gate = await atGate(s, wf, 'cutover');
      // Cycle 1: WordCount equal, rows different (an alert, the counter back to 0); cycle 2 clean: the gate.
      expect(gate.steps.find((st) => st.name === 'dual-write')!.summary).toBe('clean period reached after 2 cycles: 1 clean cycle in a row');
      expect(String(gate.gate!.evidence.history)).toBe('#2 shadow clean: wordcount equal, rows equal · #1 shadow NOT clean: wordcount equal, rows different');
      expect(gate.gate!.evidence).toMatchObject({ cleanCycles: 1, alerts: 1 });
      expect(String(gate.gate!.evidence.lastAlert)).toMatch(/#1 .*rows: outputs differ between dc1 and dc2.*part-00000: 1 line\(s\) only on old, 1 only on new: -rows 42 \+rows 43 \(sent/);
      expect(gate.figures.noise).toBe('wordcount: none; rows: none');
      expect(alerts).toHaveLength(1);
      const sent = JSON.parse(alerts[0]) as { text: string; blocks: unknown[] };
      expect(sent.text).toMatch(/rows: outputs differ between dc1 and dc2 \(cycle 1\)/);
      expect(JSON.stringify(sent.blocks)).toMatch(/part-00000.*-rows 42 \+rows 43/);
      // The new cluster's outputs were thrown away; the old cluster keeps its latest record only.
      expect(await admin.dc2.stat(`${root}/shadow/wordcount/cycle-2-new`)).toBeUndefined();
      expect(await admin.dc1.stat(`${root}/shadow/wordcount/cycle-2`)).toBeDefined();
      expect(await admin.dc1.stat(`${root}/shadow/wordcount/cycle-1`)).toBeUndefined();
      await svc.decide(s, wf, 'cutover', 'no-go', 'bob', 'seen enough');
      expect((await svc.waitForEnd(s, wf)).outcome).toBe('rolled-back');
    });
  }, 240_000);

  it('a no-go at complete switches the name back and puts the permissions back, with nothing lost', async () => {
    const s = { ...services, taskQueue: uniqueQueue('e2e-hdfs-back') };
    const dnsName = dnsFor('back');
    const src = path.join(work, 'back');
    makeTree(src, 20);
    await admin.dc1.mkdirs(`${root}/back`, { permission: '775' });
    await setOwner(admin.dc1, `${root}/back`, USER);
    const file = plan('back', { dnsName, cleanCycles: 1, datasets: [{ name: 'back', local: src, path: `${root}/back` }] });
    const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
      const { id: wf } = await svc.startMigration(s, file, 'alice');
      await atGate(s, wf, 'cutover');
      await svc.decide(s, wf, 'cutover', 'go', 'bob', 'clean');
      await atGate(s, wf, 'complete');
      expect(await lookupA({ ...sb.dns, name: dnsName })).toEqual([sb.hosts.dc2.address]);
      expect((await admin.dc1.getFileStatus(`${root}/back`)).permission).toBe('755');
      writeFileSync(path.join(src, 'day=1', 'written-during-soak'), 'must not be lost\n');
      await eventually(async () => (await admin.dc1.stat(`${root}/back/day=1/written-during-soak`)) !== undefined, 'the soak refresh on dc1', 60_000);
      await svc.decide(s, wf, 'complete', 'no-go', 'bob', 'dc2 is too slow');
      return svc.waitForEnd(s, wf);
    });
    expect(final.outcome).toBe('rolled-back');
    expect(final.compensations.map((c) => `${c.step}:${c.state}`)).toEqual(['switch-traffic:done', 'freeze:done']);
    expect(await lookupA({ ...sb.dns, name: dnsName })).toEqual([sb.hosts.dc1.address]);
    expect((await admin.dc1.getFileStatus(`${root}/back`)).permission).toBe('775');
    // Nothing lost: the old cluster has every file of the source, the one written after the switch included.
    expect(sorted(await hdfsDigest(admin.dc1, `${root}/back`))).toEqual(sorted(localDigest(src)));
  }, 180_000);

  it('cutover plan: the dry run reads both clusters for real, records every change without doing it', async () => {
    const s = { ...services, taskQueue: uniqueQueue('e2e-hdfs-plan') };
    const dnsName = dnsFor('plan');
    const file = plan('plan', { cleanCycles: 3, dnsName, datasets: [{ name: 'dry', local: path.join(work, 'small'), path: `${root}/dry` }] });
    const review = await withPlanWorkers(env, s.taskQueue, () => svc.reviewPlan(s, file, 'alice'));
    expect(review.status.outcome).toBe('completed');
    const dry = review.status.dryRun!;
    expect(dry.steps.map((st) => st.step)).toEqual([
      'preflight', 'check-dns', 'dual-write', 'gate cutover', 'read-permissions', 'freeze', 'final-refresh', 'final-parity', 'switch-traffic', 'soak', 'gate complete', 'stop-dual-write',
    ]);
    expect(dry.compensations.map((c) => c.step)).toEqual(['freeze', 'switch-traffic']);
    expect(review.status.steps.find((st) => st.name === 'preflight')!.summary).toMatch(/verify by checksum .*dry from local .*small: old created on the first refresh/);
    // Nothing changed: no path on either cluster, the name where it was.
    for (const dc of ['dc1', 'dc2'] as const) expect(await admin[dc].stat(`${root}/dry`)).toBeUndefined();
    expect(await lookupA({ ...sb.dns, name: dnsName })).toEqual([sb.hosts.dc1.address]);
  }, 120_000);

  it('bad input: an unreachable NameNode, a missing source, a path the user may not write: every problem named, nothing changed', async () => {
    const s = { ...services, taskQueue: uniqueQueue('e2e-hdfs-bad') };
    const dnsName = dnsFor('bad');
    const raw = sandboxHdfsDualWritePlan(sb, {
      name: `e2e-bad-${id}`,
      dnsName,
      user: USER,
      datasets: [
        { name: 'gone', hdfs: `${root}-src/does-not-exist`, path: `${root}/gone` },
        { name: 'locked', local: path.join(work, 'small'), path: `${root}/locked-ok`, newPath: `${root}-locked/data` },
      ],
    }) as { clusters: { new: { webhdfs: string } } };
    const file = writePlan(path.join(work, 'plans', 'bad.yaml'), raw);
    const unreachable = writePlan(
      path.join(work, 'plans', 'bad-nn.yaml'),
      { ...raw, name: `e2e-badnn-${id}`, clusters: { ...raw.clusters, new: { ...raw.clusters.new, webhdfs: 'http://127.0.2.1:9' } } },
    );
    await withWorker(env, s.taskQueue, createActivities(), async () => {
      const { id: wf } = await svc.startMigration(s, file, 'alice');
      const failed = await svc.waitForEnd(s, wf);
      expect(failed.outcome).toBe('rolled-back');
      expect(failed.failure).toContain(`datasets[0].source.hdfs (dataset gone, dc1:${root}-src/does-not-exist): does not exist`);
      expect(failed.failure).toContain(`datasets[1].paths.new (dataset locked, dc2:${root}-locked/data): user etl may not write in ${root}-locked, where it would be created`);
      const { id: wf2 } = await svc.startMigration(s, unreachable, 'alice');
      const failed2 = await svc.waitForEnd(s, wf2);
      expect(failed2.failure).toMatch(/clusters\.new \(dc2, NameNode http:\/\/127\.0\.2\.1:9\): NameNode unreachable/);
    });
    // Nothing changed: no path created on either cluster, the name where it was.
    expect(await admin.dc1.stat(`${root}/gone`)).toBeUndefined();
    expect(await admin.dc1.stat(`${root}/locked-ok`)).toBeUndefined();
    expect(await admin.dc2.stat(`${root}-locked/data`)).toBeUndefined();
    expect(await lookupA({ ...sb.dns, name: dnsName })).toEqual([sb.hosts.dc1.address]);
  }, 120_000);
});
