// The Redis move on real servers, with the BullMQ job system running through a DNS name of the sandbox's BIND the
// whole time. First its building blocks: replicate dc1 → dc2, pause the jobs through the control endpoint (as a
// hook would), pause writes, catch up, promote, compare, switch the name, resume; BGSAVE waits for a save that
// succeeded and reports one that failed; preflight reports every problem at once; steps are idempotent.
// Then the whole move through the CLI services, both modes, ~100k keys, producers and workers running: afterwards
// a full comparison finds no difference, no job is lost or run twice, jobs go on on dc2 through the name. And its
// faults: the worker killed (SIGKILL, its own process) during the copy (another worker retries, rsync resumes, the
// checksums and every key agree), a corrupt dump on the target (rolled back: the source serves, jobs resumed), the target killed while it
// loads (rolled back, the name never switched), a dc1↔dc2 partition of the replication link (iptables, removed in
// cleanup: the gate shows the lag, healed it catches up), a pause hook that never confirms (nothing left paused),
// bad input refused by preflight (unreachable host, non-empty target, wrong AUTH); and the way back after the
// switch (the writes made on dc2 carried home, the name back on dc1, no job lost or run twice).
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities, type Activities } from '../../activities';
import { storageFromEnv } from '../../activities/clients/gcs';
import { lookupA } from '../../activities/dns';
import { defaultDeps } from '../../activities';
import { createRedisActivities } from '../../activities/redis';
import { compareRedis, type CompareResult } from '../../activities/redis/compare';
import { RespConnection, RespError } from '../../activities/redis/resp';
import { preflightRedis } from '../../activities/redis/preflight';
import { awaitCaughtUp, bgsaveAndWait, catchUpState, pauseWrites, promote, replicaOf, unpauseWrites } from '../../activities/redis/replication';
import { ErrorType } from '../../workflows/shared/errors';
import type { MigrationStatus } from '../../workflows/shared';
import * as svc from '../../scripts/cli/services';
import { sandboxRedisMovePlan, type SandboxRedisMoveOptions } from '../../scripts/plans/redis-move';
import { writePlan } from '../../scripts/plans/sandbox';
import { seedRedis } from '../../scripts/workload/redis-data';
import { type ControlledRedis, startControlledRedis } from '../../scripts/workload/redis-servers';
import { atGate, statusWhen } from '../helpers/migrations';
import { eventually, temporalTestEnv, uniqueQueue, withPlanWorkers, withWorker, type TemporalTestEnv } from '../helpers/temporal';
import { loadSandbox, setSandboxRecord } from '../../scripts/sandbox/endpoints';
import { sandboxSigningKeys } from '../../scripts/sandbox/people';
import { control } from '../../scripts/workload/redis-jobs-ctl';
import { countJobs, drainJobs, type JobSystem, startJobSystem } from '../../scripts/workload/redis-jobs';
import { cutTcp, healAll, partition } from '../helpers/partition';
import { testSecret, type TestSecret } from '../helpers/secrets';
import { freePortOnAll, startThrowawayRedis, type ThrowawayRedis } from '../../scripts/workload/redis-servers';

const sb = loadSandbox();
const id = randomUUID().slice(0, 8);
const dnsName = `e2e-redis-${id}.${sb.dns.zone}`;
const work = mkdtempSync(path.join(os.tmpdir(), 'cutover-redis-move-'));
// The AUTH password in the sandbox worker's secret store, under a name of this file's own.
const password = testSecret(sb, 'e2e-redis', 'move-secret\n');
const secrets: TestSecret[] = [password];
let source: ThrowawayRedis;
let target: ThrowawayRedis;
let src: Redis;
let tgt: Redis;
let env: TemporalTestEnv;
let services: svc.Services;

beforeAll(async () => {
  env = await temporalTestEnv();
  // alice and bob sign with their sandbox keys (scripts/sandbox/people.ts).
  services = await svc.connect({ signingKeys: sandboxSigningKeys(loadSandbox().stateDir) });
  // One port on both addresses: clients follow the name, the port stays.
  const port = await freePortOnAll([sb.hosts.dc1.address, sb.hosts.dc2.address]);
  const args = ['--repl-diskless-sync-delay', '0'];
  source = await startThrowawayRedis({ address: sb.hosts.dc1.address, port, password: 'move-secret', label: 'source', args });
  target = await startThrowawayRedis({ address: sb.hosts.dc2.address, port, password: 'move-secret', label: 'target', args });
  src = new Redis({ ...source.endpoint, protocol: 2 });
  tgt = new Redis({ ...target.endpoint, protocol: 2 });
  setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
});

afterAll(async () => {
  // A partition test that failed half-way leaves no rule behind.
  await healAll();
  for (const f of fixtures.splice(0)) await f.cleanup();
  await services?.close();
  await env?.close();
  src?.disconnect();
  tgt?.disconnect();
  await source?.stop();
  await target?.stop();
  setSandboxRecord(sb, dnsName, null);
  rmSync(work, { recursive: true, force: true });
  for (const x of secrets) x.remove();
});

/** A secret of this test file's own (removed afterwards); null: a name the store does not have. */
function secret(prefix: string, value: string | null): TestSecret {
  const x = testSecret(sb, prefix, value);
  secrets.push(x);
  return x;
}

describe('redis move building blocks', () => {
  it('preflight reports every problem at once, and passes on a good pair', async () => {
    const ref = (ep: ThrowawayRedis, label: string) => ({ label, host: ep.endpoint.host, port: ep.endpoint.port, password: password.ref });
    const ok = await preflightRedis({ source: ref(source, 'source'), target: { ...ref(target, 'target'), overwrite: false } });
    expect(ok.source).toMatchObject({ version: expect.stringMatching(/^7\./), rdbVersion: 10, role: 'master', dir: source.dir, dbfilename: 'dump.rdb' });
    expect(ok.target?.keyspace).toEqual([]);

    await tgt.set('leftover', '1');
    const err = await preflightRedis({
      source: { ...ref(source, 'source'), password: secret('e2e-absent', null).ref },
      target: { ...ref(target, 'target'), overwrite: false },
    }).catch((e: unknown) => e);
    await tgt.del('leftover');
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(ErrorType.PreflightFailed);
    const problems = ((err as ApplicationFailure).details?.[0] as string[]).join('\n');
    expect(problems).toMatch(/redis source: secret "e2e-absent-\w+" is not in the worker's secret store/);
    expect(problems).not.toMatch(/move-secret/);

    const wrong = secret('e2e-wrong', 'nope');
    const err2 = await preflightRedis({
      source: ref(source, 'source'),
      target: { ...ref(target, 'target'), password: wrong.ref, overwrite: false },
    }).catch((e: unknown) => e as ApplicationFailure);
    expect((err2 as ApplicationFailure).message).toMatch(/target .*login refused.*password from secret "e2e-wrong-/);
    expect((err2 as ApplicationFailure).message).not.toMatch(/nope/);
  });

  it('BGSAVE waits for a save that succeeded, and reports one that failed', async () => {
    await src.set('before-save', '1');
    const before = Number((await src.info('persistence')).match(/rdb_last_save_time:(\d+)/)![1]);
    const r = await bgsaveAndWait(src);
    expect(r.lastSaveTime).toBeGreaterThan(before);
    expect(existsSync(path.join(source.dir, 'dump.rdb'))).toBe(true);
    // A second call makes a second, later dump (a retried activity gets a fresh one).
    expect((await bgsaveAndWait(src)).lastSaveTime).toBeGreaterThan(r.lastSaveTime);

    const broken = await startThrowawayRedis({ address: sb.hosts.dc1.address });
    try {
      rmSync(broken.dir, { recursive: true, force: true }); // nowhere to write the dump
      const b = new Redis({ ...broken.endpoint, protocol: 2 });
      await b.set('k', 'v');
      await expect(bgsaveAndWait(b, { timeoutMs: 20_000 })).rejects.toThrow(/BGSAVE failed/);
      b.disconnect();
    } finally {
      await broken.stop();
    }
  });

  it('moves a live job queue dc1 → dc2: no job lost, none run twice', async () => {
    const completionLog = path.join(work, 'completions.log');
    const jobs = await startJobSystem({
      dns: { server: sb.dns.server, port: sb.dns.port, name: dnsName },
      port: source.endpoint.port,
      password: 'move-secret',
      ratePerSec: 40,
      completionLog,
    });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect((await control(jobs.url, 'status')).completed).toBeGreaterThan(10);

      // Replicate while the jobs run; idempotent.
      expect(await replicaOf(tgt, { host: source.endpoint.host, port: source.endpoint.port, password: 'move-secret' })).toEqual({ changed: true });
      expect(await replicaOf(tgt, { host: source.endpoint.host, port: source.endpoint.port, password: 'move-secret' })).toEqual({ changed: false });
      await awaitCaughtUp(src, tgt, { timeoutMs: 60_000 });

      // The hook: the CLI's control call, which returns once nothing is active (run without blocking: the job
      // system answering it lives in this process).
      const cli = await promisify(execFile)('npx', ['tsx', 'scripts/workload/redis-jobs-ctl.ts', 'pause', '--url', jobs.url], { encoding: 'utf8' });
      const paused = JSON.parse(cli.stdout.trim().split('\n').pop()!);
      expect(paused).toMatchObject({ paused: true, active: 0 });

      // Fence writes (a deadline, not forever), catch up: offset ≥ the master's, then promote.
      await pauseWrites(src, { ms: 30_000 });
      const caught = await awaitCaughtUp(src, tgt, { timeoutMs: 30_000 });
      expect(caught.replicaOffset).toBeGreaterThanOrEqual(caught.masterOffset);
      expect(await promote(tgt)).toEqual({ changed: true });
      expect(await promote(tgt)).toEqual({ changed: false });
      expect((await catchUpState(src, tgt)).linkUp).toBe(false);

      const cmp = await compareRedis({ source: source.endpoint, target: target.endpoint });
      expect(cmp.differences).toEqual([]);
      expect(cmp.keysCompared).toBeGreaterThan(10);

      // Switch the name; the job system follows it, then resumes on dc2.
      setSandboxRecord(sb, dnsName, sb.hosts.dc2.address);
      const until = Date.now() + 10_000;
      while (jobs.address !== sb.hosts.dc2.address && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect((await control(jobs.url, 'status')).address).toBe(sb.hosts.dc2.address);
      const resumed = await control(jobs.url, 'resume');
      expect(resumed.paused).toBe(false);
      await new Promise((r) => setTimeout(r, 1500));
      const count = await drainJobs(jobs, completionLog, 20_000);
      expect(count.lost).toEqual([]);
      expect(count.duplicates).toEqual([]);
      expect(count.enqueued).toBeGreaterThan(60);
      // Jobs ran on both sides of the move.
      const log = (await import('node:fs')).readFileSync(completionLog, 'utf8');
      expect(log).toContain(` ${sb.hosts.dc1.address} `);
      expect(log).toContain(` ${sb.hosts.dc2.address} `);
    } finally {
      await unpauseWrites(src).catch(() => undefined);
      await jobs.stop();
    }
  });

  it('as activities: the comparison heartbeats its figures, a refused login is not retried', async () => {
    const acts = createRedisActivities(defaultDeps());
    const env = new MockActivityEnvironment();
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const ref = (ep: ThrowawayRedis, label: string, pw = password.ref) => ({ label, host: ep.endpoint.host, port: ep.endpoint.port, password: pw });
    const r: CompareResult = await env.run(acts.compareRedisServers, { source: ref(source, 'source'), target: ref(target, 'target'), settings: { maxDifferences: 5 } });
    expect(r.keysCompared).toBeGreaterThan(0);
    expect(beats.at(-1)).toMatchObject({ phase: 'recheck', keysCompared: r.keysCompared });

    const wrong = secret('e2e-wrong', 'nope');
    const err = await new MockActivityEnvironment().run(acts.redisPromote, { server: ref(target, 'target', wrong.ref) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: ErrorType.HostUnreachable, nonRetryable: true });
    expect((err as Error).message).toMatch(/promoting target: .*login refused/);
  });
});

// ---- the whole move through the CLI services -----------------------------------------------------------

const PASSWORD = 'move-secret';
const fixtures: MoveFixture[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface MoveFixture {
  id: string;
  dnsName: string;
  source: ControlledRedis;
  target: ControlledRedis;
  jobs: JobSystem | null;
  completionLog: string;
  planFile: string;
  seeded: number;
  /** Runs started on it: a test that fails half-way leaves one open, cleanup ends it. */
  runs: string[];
  cleanup(): Promise<void>;
}

/**
 * A pair of servers run by the sandbox user through their control scripts (the target's is the plan's service),
 * in dc1 and dc2 on one port, `keys` keys on the source, a DNS name of its own on dc1, the job system running
 * through it (unless `jobs: false`), and the plan.
 */
async function moveFixture(o: { keys: number; pad?: number; jobs?: boolean; targetConf?: string[] } & Partial<SandboxRedisMoveOptions>): Promise<MoveFixture> {
  const id = randomUUID().slice(0, 8);
  const port = await freePortOnAll([sb.hosts.dc1.address, sb.hosts.dc2.address]);
  const make = (dc: 'dc1' | 'dc2', label: string) =>
    startControlledRedis({
      parentDir: path.join(sb.stateDir, dc), name: `e2e-${id}`, address: sb.hosts[dc].address, port, password: PASSWORD, label,
      extra: dc === 'dc2' ? o.targetConf : undefined,
    });
  const source = make('dc1', 'source');
  const target = make('dc2', 'target');
  const dnsName = `e2e-rm-${id}.${sb.dns.zone}`;
  setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
  const seeded = o.keys ? (await seedRedis(source.endpoint, { keys: o.keys, pad: o.pad })).keys : 0;
  const completionLog = path.join(work, `completions-${id}.log`);
  const jobs = o.jobs === false ? null : await startJobSystem({ dns: { server: sb.dns.server, port: sb.dns.port, name: dnsName }, port, password: PASSWORD, ratePerSec: 40, completionLog });
  const planFile = writePlan(
    path.join(sb.stateDir, 'plans', `e2e-rm-${id}.yaml`),
    sandboxRedisMovePlan(sb, { name: `e2e-${id}`, dnsName, port, passwordSecret: password.name, targetCtl: target.ctl, ...(jobs ? { jobsUrl: jobs.url } : {}), jobsTimeout: '45s', ...o }),
  );
  const f: MoveFixture = {
    id, dnsName, source, target, jobs, completionLog, planFile, seeded, runs: [],
    async cleanup() {
      for (const run of f.runs) await services.client.workflow.getHandle(run).terminate('test cleanup').catch(() => undefined);
      // Nothing may stay paused: the job system's connections would wait for the pause's deadline.
      for (const r of [source, target]) {
        const c = client(r);
        await Promise.race([c.call('CLIENT', 'UNPAUSE'), sleep(2000)]).catch(() => undefined);
        c.disconnect();
      }
      await Promise.race([jobs?.stop(), sleep(15_000)]);
      await source.stop();
      await target.stop();
      rmSync(planFile, { force: true });
      await storageFromEnv().bucket(sb.gcs.bucket).file(`dumps/redis-move-e2e-${id}.rdb`).delete().catch(() => undefined);
      try {
        setSandboxRecord(sb, dnsName, null);
      } catch {
        /* best effort */
      }
    },
  };
  fixtures.push(f);
  return f;
}

const client = (r: ControlledRedis) => new Redis({ ...r.endpoint, protocol: 2, maxRetriesPerRequest: 1 });

/** svc.startMigration, the run remembered for cleanup. */
async function startRun(s: svc.Services, f: MoveFixture): Promise<string> {
  const { id } = await svc.startMigration(s, f.planFile, 'alice');
  f.runs.push(id);
  return id;
}

/** Whether a write on this server is taken within `ms` (a paused server blocks it; a replica refuses it). */
async function takesWrites(r: ControlledRedis, ms = 2000): Promise<boolean | 'read-only'> {
  const c = client(r);
  try {
    const done = c.set(`probe:${randomUUID()}`, '1').then(() => true, (e: Error) => (/READONLY/.test(e.message) ? ('read-only' as const) : false));
    return await Promise.race([done, sleep(ms).then(() => false)]);
  } finally {
    c.disconnect();
  }
}

/** The jobs after the move: drained, none lost, none run twice, and some ran on `where` after the switch. */
async function checkJobs(f: MoveFixture, where: string): Promise<void> {
  const jobs = f.jobs!;
  await eventually(async () => jobs.address === where, `job system on ${where}`, 15_000);
  await eventually(async () => countJobs(jobs.enqueued, f.completionLog).completed > 0 && readFileSync(f.completionLog, 'utf8').includes(` ${where} `), `jobs completed on ${where}`, 20_000);
  const count = await drainJobs(jobs, f.completionLog, 30_000);
  expect(count.lost).toEqual([]);
  expect(count.duplicates).toEqual([]);
  expect(count.enqueued).toBeGreaterThan(20);
}

/**
 * A move rolled back before its switch left everything as it found it: the name on dc1, the target running and
 * empty again, the source taking writes, the job system resumed and every job run once on dc1.
 */
async function expectBackAsBefore(f: MoveFixture): Promise<void> {
  expect(await lookupA({ server: sb.dns.server, port: sb.dns.port, name: f.dnsName })).toEqual([sb.hosts.dc1.address]);
  expect(f.target.control('status').out).toBe('running');
  const t = client(f.target);
  expect(await t.dbsize()).toBe(0);
  t.disconnect();
  expect(await takesWrites(f.source)).toBe(true);
  expect((await control(f.jobs!.url, 'status')).paused).toBe(false);
  await checkJobs(f, sb.hosts.dc1.address);
}

/** A full comparison of both servers once the old side has caught up with the new one. */
async function compareAfter(f: MoveFixture): Promise<CompareResult> {
  const [s, t] = [client(f.source), client(f.target)];
  try {
    await awaitCaughtUp(t, s, { timeoutMs: 60_000 });
    return await compareRedis({ source: f.source.endpoint, target: f.target.endpoint, maxDifferences: 5 });
  } finally {
    s.disconnect();
    t.disconnect();
  }
}

describe('redis-move end to end', () => {
  it('dump mode: jobs paused, BGSAVE, copy with checksums, archive, load, every key compared, switch; nothing lost, nothing twice', async () => {
    const f = await moveFixture({ keys: 100_000, mode: 'dump' });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-dump') };
    await sleep(1500);
    const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
      const id = await startRun(s, f);
      const gate = await atGate(s, id, 'cutover');
      expect(gate.gate!.evidence).toMatchObject({ mode: 'dump', keysDifferent: 0, differences: 'none', verdict: 'identical' });
      expect(gate.gate!.evidence.keysCompared).toBeGreaterThanOrEqual(f.seeded);
      // Waiting at the gate: no job runs and the source takes no write (it holds them until the switch).
      const done = countJobs(f.jobs!.enqueued, f.completionLog).completed;
      expect(await takesWrites(f.source, 1000)).toBe(false);
      expect(countJobs(f.jobs!.enqueued, f.completionLog).completed).toBe(done);
      await svc.decide(s, id, 'cutover', 'go', 'bob', 'identical');
      return svc.waitForEnd(s, id);
    });
    expect(final.outcome).toBe('completed');
    expect(final.steps.map((st) => st.name)).toEqual([
      // The comparison starts before the pause: it reads the live source while the jobs run, the pause waits
      // for that, and the keys the jobs change meanwhile are read again; the target once it has loaded.
      'preflight', 'check-dns', 'integrity', 'pause-jobs', 'pause-writes', 'bgsave', 'copy-dump', 'stop-target', 'place-dump', 'start-target',
      'hold-writes', 'switch-traffic', 'fence-source', 'resume-jobs', 'archive-dump', 'clean-up',
    ]);
    // Said in preflight, before anything changed: the source can be read ahead.
    expect(final.figures.settings).toContain('comparison: the source read ahead before the write pause');
    expect(final.figures.readAhead).toMatch(/^\d+ keys in [\d.]+ s, before the pause$/);
    // The jobs wrote while the source was read ahead: those keys were read again, not the whole source.
    expect(final.figures.readAheadReread).toBeGreaterThan(0);
    expect(final.figures.readAheadFullRereads).toBe(0);
    expect(await lookupA({ server: sb.dns.server, port: sb.dns.port, name: f.dnsName })).toEqual([sb.hosts.dc2.address]);
    // The dump archived in the bucket is the one copied (its size; its sha256 was checked while streaming).
    const [meta] = await storageFromEnv().bucket(sb.gcs.bucket).file(`dumps/redis-move-e2e-${f.id}.rdb`).getMetadata();
    expect(Number(meta.size)).toBe(final.figures.dumpBytes);
    // The old source is a read-only replica of the target (once its sync is loaded): nothing can write into the old copy.
    await eventually(async () => (await takesWrites(f.source)) === 'read-only', 'the old source read-only', 20_000);
    expect(await takesWrites(f.target)).toBe(true);
    await checkJobs(f, sb.hosts.dc2.address);
    const after = await compareAfter(f);
    expect(after.differences).toEqual([]);
    expect(after.keysCompared).toBeGreaterThan(f.seeded);
  });

  it('replicate mode: live replication, the gate with lag, a short write pause, switch; nothing lost, nothing twice', async () => {
    const f = await moveFixture({ keys: 100_000, mode: 'replicate', complete: true });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-repl') };
    await sleep(1500);
    const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
      const id = await startRun(s, f);
      const gate = await atGate(s, id, 'cutover');
      expect(gate.gate!.evidence).toMatchObject({ mode: 'replicate', link: 'up' });
      expect(gate.gate!.evidence.keysCompared).toBeGreaterThanOrEqual(f.seeded);
      // Live: the jobs were never paused before the gate.
      expect((await control(f.jobs!.url, 'status')).paused).toBe(false);
      await svc.decide(s, id, 'cutover', 'go', 'bob', 'lag fine');
      const complete = await atGate(s, id, 'complete');
      expect(complete.gate!.evidence.dns).toBe(`${f.dnsName} → ${sb.hosts.dc2.address}`);
      await svc.decide(s, id, 'complete', 'go', 'bob', 'jobs run on dc2');
      return svc.waitForEnd(s, id);
    });
    expect(final.outcome).toBe('completed');
    expect(Number(final.figures.writePauseToPromotedMs)).toBeLessThan(1000);
    await checkJobs(f, sb.hosts.dc2.address);
    const after = await compareAfter(f);
    expect(after.differences).toEqual([]);
  });

  it('a corrupt dump on the target rolls back: the target refuses it, is restored, the source serves and the jobs resume on it', async () => {
    const f = await moveFixture({ keys: 20_000, mode: 'dump' });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-corrupt') };
    const real = createActivities();
    const activities: Activities = {
      ...real,
      // Between the copy (checksums equal) and the load: bytes flipped in the middle of the dump on dc2.
      async placeRedisDump(input) {
        const fd = openSync(input.incoming, 'r+');
        try {
          writeSync(fd, Buffer.from('corrupted by the test'), 0, 21, Math.floor(statSync(input.incoming).size / 2));
        } finally {
          closeSync(fd);
        }
        return real.placeRedisDump(input);
      },
    };
    await sleep(1000);
    const final: MigrationStatus = await withWorker(env, s.taskQueue, activities, async () => {
      const id = await startRun(s, f);
      return svc.waitForEnd(s, id);
    });
    expect(final.outcome).toBe('rolled-back');
    // Redis's own words: the RDB it could not load.
    expect(final.failure).toMatch(/^starting target: .*redis-ctl\.sh start.* exited 1: .*RDB/);
    expect(final.compensations.map((c) => [c.step, c.state])).toEqual([['stop-target', 'done'], ['copy-dump', 'done'], ['pause-writes', 'done'], ['pause-jobs', 'done']]);
    await expectBackAsBefore(f);
  });

  it('the way back after the switch: the source catches up with the writes made on dc2, is promoted, the name goes back; nothing lost, nothing twice', async () => {
    const f = await moveFixture({ keys: 20_000, mode: 'replicate', complete: true });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-back') };
    const dc1 = sb.hosts.dc1.address;
    const dc2 = sb.hosts.dc2.address;
    await sleep(1500);
    const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
      const id = await startRun(s, f);
      await atGate(s, id, 'cutover');
      await svc.decide(s, id, 'cutover', 'go', 'bob', 'lag fine');
      const complete = await atGate(s, id, 'complete');
      expect(complete.gate!.evidence.dns).toBe(`${f.dnsName} → ${dc2}`);
      expect(complete.gate!.evidence.onNoGo).toMatch(/^way back/);
      // Jobs run on dc2 and write there, and a key only dc2 has: what the way back must carry home.
      await eventually(async () => f.jobs!.address === dc2 && readFileSync(f.completionLog, 'utf8').includes(` ${dc2} `), 'jobs completed on dc2', 20_000);
      const t = client(f.target);
      await t.set('written-on-dc2', 'after the switch');
      t.disconnect();
      await svc.decide(s, id, 'complete', 'no-go', 'bob', 'take it back');
      return svc.waitForEnd(s, id);
    });
    expect(final.outcome).toBe('rolled-back');
    expect(final.wayBack?.state).toBe('done');
    expect(final.steps.map((st) => st.name)).toEqual(expect.arrayContaining(['switch-traffic', 'fence-source', 'resume-jobs']));
    expect(await lookupA({ server: sb.dns.server, port: sb.dns.port, name: f.dnsName })).toEqual([dc1]);
    // The source serves again, with what was written on dc2; the target is a read-only replica of it.
    const sc = client(f.source);
    expect(await sc.get('written-on-dc2')).toBe('after the switch');
    sc.disconnect();
    expect(await takesWrites(f.source)).toBe(true);
    await eventually(async () => (await takesWrites(f.target)) === 'read-only', 'the target read-only', 20_000);
    // Jobs: some completed on dc2 in between, they go on on dc1, none lost, none run twice.
    await checkJobs(f, dc1);
    const [sr, tr] = [client(f.source), client(f.target)];
    try {
      await awaitCaughtUp(sr, tr, { timeoutMs: 60_000 });
      const after = await compareRedis({ source: f.source.endpoint, target: f.target.endpoint, maxDifferences: 5 });
      expect(after.differences).toEqual([]);
      expect(after.keysCompared).toBeGreaterThan(f.seeded);
    } finally {
      sr.disconnect();
      tr.disconnect();
    }
  });

  it('the worker killed (SIGKILL) during the copy: another worker retries it, the copy resumes, checksums and every key agree', async () => {
    // A dump of ~150 MB, so the copy is still running when the worker dies.
    const f = await moveFixture({ keys: 400_000, pad: 450, mode: 'dump' });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-kill-worker') };
    const incoming = `${f.target.dumpPath}.cutover-incoming-e2e-${f.id}`;
    // The first worker: its own process (the sandbox's worker command), killed with its process group.
    const first = spawn('npx', ['tsx', 'scripts/sandbox/worker.ts'], {
      cwd: path.resolve(__dirname, '..', '..'),
      env: { ...process.env, CUTOVER_TASK_QUEUE: s.taskQueue },
      detached: true,
      stdio: 'ignore',
    });
    const exited = new Promise((r) => first.once('exit', r));
    let partialBytes = 0;
    try {
      await sleep(1000);
      const id = await startRun(s, f);
      partialBytes = await eventually(async () => (existsSync(incoming) && statSync(incoming).size > 0 ? statSync(incoming).size : null), 'the copy under way', 90_000);
      process.kill(-first.pid!, 'SIGKILL');
      await exited;
      // The second worker takes over: the workflow at once, the copy once its heartbeat times out (30 s).
      const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
        const gate = await statusWhen(s, id, (st) => st.gate?.name === 'cutover', 'gate cutover', 150_000);
        expect(gate.gate!.evidence).toMatchObject({ mode: 'dump', keysDifferent: 0, verdict: 'identical' });
        await svc.decide(s, id, 'cutover', 'go', 'bob', 'identical');
        return svc.waitForEnd(s, id);
      });
      expect(final.outcome).toBe('completed');
      expect(partialBytes).toBeLessThan(Number(final.figures.dumpBytes));
      // The copy ran more than once: the killed attempt and the one that finished.
      const history = await services.client.workflow.getHandle(id).fetchHistory();
      const copyScheduled = history.events!.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'copyRedisDump')!;
      const copyStarted = history.events!.find((e) => Number(e.activityTaskStartedEventAttributes?.scheduledEventId) === Number(copyScheduled.eventId))!;
      expect(copyStarted.activityTaskStartedEventAttributes!.attempt).toBeGreaterThanOrEqual(2);
      expect(await lookupA({ server: sb.dns.server, port: sb.dns.port, name: f.dnsName })).toEqual([sb.hosts.dc2.address]);
      await checkJobs(f, sb.hosts.dc2.address);
      const after = await compareAfter(f);
      expect(after.differences).toEqual([]);
      expect(after.keysCompared).toBeGreaterThan(f.seeded);
    } finally {
      if (first.exitCode === null && first.signalCode === null) process.kill(-first.pid!, 'SIGKILL');
    }
  }, 240_000);

  it('the target killed while it loads the dump: the move notices and rolls back, the name never leaves dc1', async () => {
    // 20k keys loaded at 200 µs each: four seconds of LOADING to be killed in, answering (LOADING) meanwhile.
    const f = await moveFixture({ keys: 20_000, mode: 'dump', targetConf: ['key-load-delay 200', 'loading-process-events-interval-bytes 1024'] });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-kill-load') };
    const real = createActivities();
    let killedPid = 0;
    const activities: Activities = {
      ...real,
      // The real start, and the server killed (SIGKILL, by its pid file) once it answers LOADING.
      async startRedisServer(input) {
        if (killedPid !== 0) return real.startRedisServer(input);
        const killer = (async () => {
          for (let i = 0; i < 600 && killedPid === 0; i++) {
            // A plain connection: ioredis's ready check would wait for the load to end.
            const probe = RespConnection.open(f.target.endpoint, 0, { timeoutMs: 500 }).then(
              async (c) => {
                const [r] = await c.exec([['PING']]).finally(() => c.close());
                return r instanceof RespError && /LOADING/.test(r.message);
              },
              () => false,
            );
            const loading = await Promise.race([probe, sleep(1000).then(() => false)]);
            if (loading) {
              killedPid = Number(readFileSync(path.join(f.target.dir, 'redis.pid'), 'utf8'));
              process.kill(killedPid, 'SIGKILL');
            }
            await sleep(20);
          }
        })();
        try {
          return await real.startRedisServer(input);
        } finally {
          await killer;
        }
      },
    };
    await sleep(1000);
    const final: MigrationStatus = await withWorker(env, s.taskQueue, activities, async () => {
      const id = await startRun(s, f);
      return svc.waitForEnd(s, id);
    });
    expect(killedPid).toBeGreaterThan(0);
    expect(final.outcome).toBe('rolled-back');
    // Killed while its start command still waits for it (the command fails, quoting the log's last lines), or
    // after (cutover sees it refuse connections): either way the start fails, naming the target.
    expect(final.failure).toMatch(/starting target: .*(died loading its dump|redis-ctl\.sh start'` exited 1: .*Loading RDB)/);
    expect(final.steps.map((st) => st.name)).not.toContain('switch-traffic');
    await expectBackAsBefore(f);
  });

  it('a dc1↔dc2 partition during replication: the lag grows and the gate shows it; healed, replication catches up and the move completes', async () => {
    // The replica connects from its own address, as a machine in dc2 would (by default a loopback connection
    // leaves from 127.0.0.1, see REFERENCE.md), so a rule can tell the replication link from everything else.
    const f = await moveFixture({ keys: 20_000, mode: 'replicate', targetConf: ['bind-source-addr 127.0.2.1'] });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-partition') };
    const dc1 = sb.hosts.dc1.address;
    const dc2 = sb.hosts.dc2.address;
    const port = String(f.source.endpoint.port);
    // Only this pair's replication link is cut (dc2 to the source's port on dc1, and back): other tests on the
    // sandbox's hosts go on, and the worker still reads both servers (it connects from 127.0.0.1).
    const rules = cutTcp(dc1, [port], dc2);
    await sleep(1500);
    const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
      const id = await startRun(s, f);
      const gate = await atGate(s, id, 'cutover');
      const before = gate.gate!.evidence;
      expect(before).toMatchObject({ mode: 'replicate', link: 'up' });
      expect(Number(before.lagBytes)).toBeLessThan(100_000);
      const cut = await partition(rules);
      try {
        // The jobs go on writing on dc1; the target hears nothing: at the gate's next refresh (15 s) the lag shows it.
        const lagging = await eventually(async () => {
          const st = (await svc.getStatus(s, id)).status;
          return st.gate?.refreshedAt !== gate.gate!.refreshedAt && Number(st.gate!.evidence.lagBytes) > Number(before.lagBytes) + 1000 ? st : null;
        }, 'the gate showing the lag', 40_000);
        expect(lagging.gate!.name).toBe('cutover');
        expect(Number(lagging.gate!.evidence.lagBytes)).toBeGreaterThan(1000);
      } finally {
        await cut.heal();
      }
      // Healed: the replica catches up by itself (the link was never given up on, or reconnects).
      const [sr, tr] = [client(f.source), client(f.target)];
      try {
        await awaitCaughtUp(sr, tr, { timeoutMs: 90_000 });
      } finally {
        sr.disconnect();
        tr.disconnect();
      }
      await svc.decide(s, id, 'cutover', 'go', 'bob', 'lag back to nothing');
      return svc.waitForEnd(s, id);
    });
    expect(final.outcome).toBe('completed');
    expect(Number(final.figures.writePauseToPromotedMs)).toBeLessThan(1000);
    expect(await lookupA({ server: sb.dns.server, port: sb.dns.port, name: f.dnsName })).toEqual([dc2]);
    await checkJobs(f, dc2);
    const after = await compareAfter(f);
    expect(after.differences).toEqual([]);
  }, 180_000);

  it('a pause hook that never confirms: the step fails in time and nothing is left paused', async () => {
    const f = await moveFixture({ keys: 1000, mode: 'dump', pauseCommand: 'sleep 600', jobsTimeout: '3s' });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-hook') };
    const final: MigrationStatus = await withWorker(env, s.taskQueue, createActivities(), async () => {
      const id = await startRun(s, f);
      return svc.waitForEnd(s, id);
    });
    expect(final.outcome).toBe('rolled-back');
    expect(final.failure).toMatch(/pause hook on dc1 did not finish within 3 s/);
    expect(final.compensations).toMatchObject([{ step: 'pause-jobs', state: 'done' }]);
    expect((await control(f.jobs!.url, 'status')).paused).toBe(false);
    expect(await takesWrites(f.source)).toBe(true);
    await checkJobs(f, sb.hosts.dc1.address);
  });

  it('bad input is refused by preflight, every problem at once: unreachable server and host, wrong AUTH secret, non-empty target, missing persistence dir', async () => {
    const f = await moveFixture({ keys: 10, mode: 'dump', jobs: false });
    const s = { ...services, taskQueue: uniqueQueue('e2e-rm-pre') };
    const wrong = secret('e2e-wrong', 'not-the-password');
    // The source's password from the wrong secret, the target's server down, dc2's SSH on a port nobody pinned.
    const text = readFileSync(f.planFile, 'utf8');
    const at = text.indexOf('source:');
    const bad = text.slice(0, at) + text.slice(at).replace(`secret: ${password.name}`, `secret: ${wrong.name}`);
    expect(bad).not.toBe(text);
    const unreachable = bad.replace(/(dc2:\n\s+address: 127\.0\.2\.1\n\s+port: )2222/, '$12299');
    expect(unreachable).not.toBe(bad);
    writeFileSync(f.planFile, unreachable);
    expect(f.target.control('stop').code).toBe(0);
    await withPlanWorkers(env, s.taskQueue, async () => {
      const err = await svc.reviewPlan(s, f.planFile, 'alice').catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message).toMatch(/preflight of .* failed, nothing was changed/);
      expect(message).toMatch(/source 127\.0\.1\.1:\d+: login refused.*password from secret "e2e-wrong-/);
      expect(message).toMatch(/target 127\.0\.2\.1:\d+: unreachable/);
      expect(message).toMatch(/ssh dc2: .*(no key for \[127\.0\.2\.1\]:2299|unreachable)/);
      expect(message).not.toMatch(/not-the-password|move-secret/);

      // The plan as it was, the target up again but holding a key: refused unless the plan allows overwriting it.
      writeFileSync(f.planFile, text);
      expect(f.target.control('start').code).toBe(0);
      const t = client(f.target);
      await t.set('left-over', '1');
      t.disconnect();
      const err2 = await svc.reviewPlan(s, f.planFile, 'alice').catch((e: Error) => e);
      expect((err2 as Error).message).toMatch(/target holds 1 keys .* set target.overwrite/);

      // Emptied: the dry run passes, real reads, every change recorded and not done (the target still runs).
      const t2 = client(f.target);
      await t2.del('left-over');
      t2.disconnect();
      const review = await svc.reviewPlan(s, f.planFile, 'alice');
      expect(review.status.outcome).toBe('completed');
      // What the comparison will do, known before the run: the source can be read ahead of the pause.
      expect(review.status.figures.settings).toContain('comparison: the source read ahead before the write pause');
      expect(review.status.dryRun!.steps.map((st) => st.step)).toEqual(expect.arrayContaining(['preflight', 'pause-writes', 'copy-dump', 'start-target', 'integrity', 'gate cutover', 'switch-traffic']));
      expect(review.status.dryRun!.compensations.map((c) => c.step)).toEqual(['pause-writes', 'copy-dump', 'stop-target', 'switch-traffic']);
      expect(f.target.control('status').out).toBe('running');
      expect(await takesWrites(f.source)).toBe(true);

      // The source's persistence directory deleted under the running server: refused, nothing else tried there.
      rmSync(f.source.dir, { recursive: true, force: true });
      const err3 = await svc.reviewPlan(s, f.planFile, 'alice').catch((e: Error) => e);
      expect((err3 as Error).message).toMatch(/source does not tell its dump location .*persistence directory was deleted/);
      expect((err3 as Error).message).not.toMatch(/is not on this host/);
      // Its control script went with it: stopped here.
      const sc = client(f.source);
      await sc.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
      sc.disconnect();
    });
  });
});
