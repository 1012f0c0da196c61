// The Redis move's building blocks on real servers, with the BullMQ job system running through a DNS name of the
// sandbox's BIND the whole time: replicate dc1 → dc2, pause the jobs through the control endpoint (as a hook
// would), pause writes, catch up, promote, compare, switch the name, resume. Every job the producer saw
// acknowledged completes exactly once. Also: BGSAVE waits for a save that succeeded and reports one that failed,
// preflight reports every problem at once, steps are idempotent.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import Redis from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultDeps } from '../../activities';
import { createRedisActivities } from '../../activities/redis';
import { compareRedis, type CompareResult } from '../../activities/redis/compare';
import { preflightRedis } from '../../activities/redis/preflight';
import { awaitCaughtUp, bgsaveAndWait, catchUpState, pauseWrites, promote, replicaOf, unpauseWrites } from '../../activities/redis/replication';
import { ErrorType } from '../../workflows/shared/errors';
import { loadSandbox, setSandboxRecord } from '../../scripts/sandbox/endpoints';
import { control } from '../../scripts/workload/redis-jobs-ctl';
import { drainJobs, startJobSystem } from '../../scripts/workload/redis-jobs';
import { freePortOnAll, startThrowawayRedis, type ThrowawayRedis } from '../../scripts/workload/redis-servers';

const sb = loadSandbox();
const id = randomUUID().slice(0, 8);
const dnsName = `e2e-redis-${id}.${sb.dns.zone}`;
const work = mkdtempSync(path.join(os.tmpdir(), 'cutover-redis-move-'));
const passwordFile = path.join(work, 'redis-password');
let source: ThrowawayRedis;
let target: ThrowawayRedis;
let src: Redis;
let tgt: Redis;

beforeAll(async () => {
  writeFileSync(passwordFile, 'move-secret\n', { mode: 0o600 });
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
  src?.disconnect();
  tgt?.disconnect();
  await source?.stop();
  await target?.stop();
  setSandboxRecord(sb, dnsName, null);
  rmSync(work, { recursive: true, force: true });
});

describe('redis move building blocks', () => {
  it('preflight reports every problem at once, and passes on a good pair', async () => {
    const ref = (ep: ThrowawayRedis, label: string) => ({ label, host: ep.endpoint.host, port: ep.endpoint.port, password: { file: passwordFile } });
    const ok = await preflightRedis({ source: ref(source, 'source'), target: { ...ref(target, 'target'), overwrite: false } });
    expect(ok.source).toMatchObject({ version: expect.stringMatching(/^7\./), rdbVersion: 10, role: 'master', dir: source.dir, dbfilename: 'dump.rdb' });
    expect(ok.target?.keyspace).toEqual([]);

    await tgt.set('leftover', '1');
    const err = await preflightRedis({
      source: { ...ref(source, 'source'), password: { file: path.join(work, 'absent') } },
      target: { ...ref(target, 'target'), overwrite: false },
    }).catch((e: unknown) => e);
    await tgt.del('leftover');
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe(ErrorType.PreflightFailed);
    const problems = ((err as ApplicationFailure).details?.[0] as string[]).join('\n');
    expect(problems).toMatch(/redis source: cannot read password file .*absent/);
    expect(problems).not.toMatch(/move-secret/);

    const wrong = path.join(work, 'wrong');
    writeFileSync(wrong, 'nope');
    const err2 = await preflightRedis({
      source: ref(source, 'source'),
      target: { ...ref(target, 'target'), password: { file: wrong }, overwrite: false },
    }).catch((e: unknown) => e as ApplicationFailure);
    expect((err2 as ApplicationFailure).message).toMatch(/target .*login refused.*password from file .*wrong/);
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
    const ref = (ep: ThrowawayRedis, label: string, file = passwordFile) => ({ label, host: ep.endpoint.host, port: ep.endpoint.port, password: { file } });
    const r: CompareResult = await env.run(acts.compareRedisServers, { source: ref(source, 'source'), target: ref(target, 'target'), settings: { maxDifferences: 5 } });
    expect(r.keysCompared).toBeGreaterThan(0);
    expect(beats.at(-1)).toMatchObject({ phase: 'recheck', keysCompared: r.keysCompared });

    const wrong = path.join(work, 'wrong-2');
    writeFileSync(wrong, 'nope');
    const err = await new MockActivityEnvironment().run(acts.redisPromote, { server: ref(target, 'target', wrong) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: ErrorType.HostUnreachable, nonRetryable: true });
    expect((err as Error).message).toMatch(/promoting target: .*login refused/);
  });
});
