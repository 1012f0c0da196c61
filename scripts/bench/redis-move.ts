// redis-move benchmark: the write pause of both modes, next to the same move done by hand, with a live job system.
//
// One pair of servers (run by the sandbox user through their control scripts, dc1 → dc2 on one port, DEBUG on for
// loopback clients), KEYS keys of every type with values padded to PAD bytes (strings; a `blob` field in hashes), a
// BullMQ job system adding 40 jobs a second through a DNS name of its own the whole time. In one run:
//   raw        by hand, writes paused on the source: BGSAVE (until it succeeded), scp from the source host to the
//              target host over SSH, the target stopped, the dump moved into place, started, loaded, DEBUG DIGEST on
//              both (side by side), digests compared, unpaused. Timed from the pause to the digests compared.
//   dump       one real redis-move in dump mode (in-process worker, gates approved at once, the archive on): timed
//              from its write pause to the end of its key-by-key comparison (pause-writes → integrity), the same
//              span as the raw window: pause, dump, copy, load, verify. The whole write outage (to the fence of the
//              old source, including the gate and the switch) is reported beside it.
//   replicate  the pair put back the way the move's own way back does it (jobs paused, the old source — a replica
//              of the target since the fence — caught up and promoted, the name on dc1, jobs resumed there, the
//              target emptied), then a redis-move in replicate mode: its initial sync, and its write pause (pause →
//              REPLICAOF NO ONE).
// Afterwards every job the producer saw acknowledged must have completed exactly once. The completion log is kept
// (its path is printed and in the result) to look at a job lost or run twice.
//
//   npm run bench -- redis-move [--keys N] [--pad BYTES]
//     default 1000000 keys, 450 bytes (CUTOVER_BENCH_REDIS_KEYS, CUTOVER_BENCH_REDIS_PAD); the size, about
//     1 GiB of dataset: --keys 2000000 --pad 350
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import Redis from 'ioredis';
import { storageFromEnv } from '../../activities/clients/gcs';
import { withSsh } from '../../activities/clients/ssh';
import { bgsaveAndWait, countDifferences, handOver } from '../../activities/redis/replication';
import { createWorker } from '../../workers/main';
import type { MigrationStatus } from '../../workflows/shared';
import { UserError } from '../cli/errors';
import * as svc from '../cli/services';
import { sandboxRedisMovePlan } from '../plans/redis-move';
import { writePlan } from '../plans/sandbox';
import { putSecret, removeSecret } from '../sandbox/secrets';
import { loadSandbox, sandboxSecretsDir, sandboxSshHost, setSandboxRecord, type SandboxEndpoints, useSandboxWorkerEnv } from '../sandbox/endpoints';
import { drainJobs, jobRuns, type JobSystem, startJobSystem } from '../workload/redis-jobs';
import { seedRedis } from '../workload/redis-data';
import { type ControlledRedis, freePortOnAll, startControlledRedis } from '../workload/redis-servers';
import type { Benchmark, BenchOptions } from './main';
import { ratio } from './stats';
import { sandboxSigningKeys } from '../sandbox/people';

/**
 * The dataset: `keys` keys, values padded to `pad` bytes (7 keys in 10 carry the pad: strings and hashes). The
 * defaults keep the shape of REFERENCE.md's 1 GiB / 2 M keys at about 600 MB; --keys 2000000 --pad 350 is the
 * full size (used_memory_dataset ≈ 1.07 GB).
 */
function datasetSize(flags: BenchOptions['flags']): { keys: number; pad: number } {
  const num = (flag: string, env: string, fallback: number, min: number) => {
    const raw = flags?.[flag] ?? process.env[env];
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new UserError(`--${flag}: expected a whole number ≥ ${min}, got "${raw}"`);
    return n;
  };
  return { keys: num('keys', 'CUTOVER_BENCH_REDIS_KEYS', 1_000_000, 1000), pad: num('pad', 'CUTOVER_BENCH_REDIS_PAD', 450, 0) };
}

/**
 * What one run holds at once, roughly: the dataset on both servers (and a fork's copy-on-write during BGSAVE),
 * the dump on the source, its snapshot link, the copy on the target and the archive in the GCS emulator. Refused
 * before seeding when the machine has not that much memory available (MemAvailable), rather than swapping or
 * having a server killed halfway.
 */
function checkMemory(keys: number, pad: number): void {
  const perKey = 300 + 0.7 * pad;
  const need = keys * perKey * 3 + keys * (0.6 * pad + 60) * 2;
  const available = Number(/MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) * 1024;
  if (available > 0 && need > available) {
    throw new UserError(`${keys} keys padded to ${pad} bytes need about ${(need / 2 ** 30).toFixed(1)} GiB of memory; ${(available / 2 ** 30).toFixed(1)} GiB are available`);
  }
}

const PASSWORD = 'bench-secret';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function checkAbort(signal: AbortSignal): void {
  if (signal.aborted) throw Object.assign(new Error('interrupted'), { name: 'AbortError' });
}

const client = (r: ControlledRedis) => new Redis({ ...r.endpoint, protocol: 2 });
const sshHost = sandboxSshHost;

/** The same move by hand: pause, BGSAVE, scp between the hosts, restart the target on it, DEBUG DIGEST both. */
async function rawBaseline(sb: SandboxEndpoints, source: ControlledRedis, target: ControlledRedis) {
  const s = client(source);
  const t = client(target);
  const incoming = `${target.dumpPath}.raw`;
  try {
    const started = Date.now();
    await s.call('CLIENT', 'PAUSE', '600000', 'WRITE');
    await bgsaveAndWait(s);
    const saved = Date.now();
    const dc2 = sb.hosts.dc2;
    await withSsh(sshHost(sb, 'dc1'), (c) =>
      c.exec(`scp -q -P ${dc2.sshPort} -o BatchMode=yes -o StrictHostKeyChecking=yes -- ${source.dumpPath} ${dc2.user}@${dc2.address}:${incoming}`),
    );
    const copied = Date.now();
    t.disconnect();
    await withSsh(sshHost(sb, 'dc2'), (c) => c.exec(`sh ${target.ctl} stop && mv -- ${incoming} ${target.dumpPath} && sh ${target.ctl} start`));
    const t2 = client(target);
    try {
      for (;;) {
        const loading = await t2.info('persistence').then((i) => /loading:1/.test(i), (e: Error) => /LOADING/.test(e.message));
        if (!loading) break;
        await sleep(20);
      }
      const loaded = Date.now();
      const [a, b] = await Promise.all([s.call('DEBUG', 'DIGEST'), t2.call('DEBUG', 'DIGEST')]);
      const done = Date.now();
      await s.call('CLIENT', 'UNPAUSE');
      return { rawBaselinePauseMs: done - started, rawBgsaveMs: saved - started, rawCopyMs: copied - saved, rawRestartLoadMs: loaded - copied, rawDigestMs: done - loaded, rawDigestsEqual: a === b };
    } finally {
      t2.disconnect();
    }
  } finally {
    await s.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    s.disconnect();
    t.disconnect();
  }
}

/** One move, gates approved at once; its final status. */
async function move(s: svc.Services, planFile: string, o: BenchOptions): Promise<MigrationStatus> {
  const { id } = await svc.startMigration(s, planFile, 'alice');
  for (;;) {
    checkAbort(o.signal);
    const { status, running } = await svc.getStatus(s, id);
    if (!running) break;
    if (status.gate && status.gate.name !== 'recover') await svc.decide(s, id, status.gate.name, 'go', 'bob', 'benchmark');
    await sleep(50);
  }
  return svc.waitForEnd(s, id);
}

const stepSpan = (st: MigrationStatus, from: string, to: string): number => {
  const a = st.steps.find((x) => x.name === from);
  const b = st.steps.find((x) => x.name === to);
  return a && b?.endedAt ? Date.parse(b.endedAt) - Date.parse(a.startedAt) : NaN;
};
const stepMs = (st: MigrationStatus, name: string) => stepSpan(st, name, name);

/**
 * The pair as before a move, the way the move's way back does it: the jobs paused (no job active), writes paused
 * on the target, the old source (its replica since the fence) caught up and promoted, the name on dc1, the jobs
 * resumed there, the target emptied. Promoting the old source while jobs still ran on the target (as this bench
 * once did) lost the target's writes of the moments before the job system followed the name: a job completed on
 * dc2 in that window was still active in dc1's copy of the queue, and either BullMQ's stalled-job check ran it
 * again (duplicateJobs 1) or it stayed active and the replicate move's pause never confirmed (rolled back).
 */
async function putBack(sb: SandboxEndpoints, source: ControlledRedis, target: ControlledRedis, dnsName: string, jobs: JobSystem): Promise<{ putBackMs: number }> {
  const started = Date.now();
  const s = client(source);
  const t = client(target);
  try {
    const paused = await jobs.pause(30_000);
    if (paused.active > 0) throw new Error(`put-back: ${paused.active} job(s) still active 30 s after the pause`);
    const h = await handOver(t, s, { pauseMs: 60_000, timeoutMs: 60_000 });
    const differ = countDifferences(h.fromKeyspace, h.toKeyspace);
    if (differ.length > 0) throw new Error(`put-back: the old source caught up but its key counts differ from the target's: ${differ.join(', ')}`);
    setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
    await jobs.resume();
    if (jobs.address !== sb.hosts.dc1.address) throw new Error(`put-back: the job system still uses ${jobs.address} after resuming`);
    await t.call('CLIENT', 'UNPAUSE');
    await t.flushall();
    return { putBackMs: Date.now() - started };
  } finally {
    s.disconnect();
    t.disconnect();
  }
}

export const redisMoveBenchmark: Benchmark = {
  summary: 'Redis move: dump mode (pause → dump → copy → load → key-by-key compare) vs the same by hand with DEBUG DIGEST; replicate mode write pause',
  flags: {
    keys: { description: 'N      keys in the dataset (default 1000000; 2000000 with --pad 350 is about 1 GiB)' },
    pad: { description: 'BYTES  added to string values and as a hash field (default 450)' },
  },
  async run(o) {
    const { keys: KEYS, pad: PAD } = datasetSize(o.flags);
    checkMemory(KEYS, PAD);
    const sb = loadSandbox();
    useSandboxWorkerEnv(sb);
    Runtime.install({ logger: new DefaultLogger('WARN') });
    const id = randomUUID().slice(0, 8);
    const taskQueue = `bench-redis-${id}`;
    const worker = await createWorker(taskQueue);
    const running = worker.run();
    const s = { ...(await svc.connect({ signingKeys: sandboxSigningKeys(sb.stateDir) })), taskQueue };
    const port = await freePortOnAll([sb.hosts.dc1.address, sb.hosts.dc2.address]);
    const make = (dc: 'dc1' | 'dc2', label: string) =>
      startControlledRedis({ parentDir: path.join(sb.stateDir, dc), name: `bench-${id}`, address: sb.hosts[dc].address, port, password: PASSWORD, label });
    const source = make('dc1', 'source');
    const target = make('dc2', 'target');
    const dnsName = `bench-redis-${id}.${sb.dns.zone}`;
    // The AUTH password, by name in the sandbox worker's secret store (removed when the bench ends).
    const passwordSecret = `bench-redis-${id}`;
    putSecret(sandboxSecretsDir(sb), passwordSecret, PASSWORD);
    const completionLog = path.join(sb.stateDir, 'logs', `bench-redis-${id}.jobs.log`);
    const planFiles: string[] = [];
    let jobs: JobSystem | null = null;
    try {
      setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
      o.progress(`seeding ${KEYS} keys (values padded to ${PAD} bytes) on the source`);
      const seedStarted = Date.now();
      const seeded = await seedRedis(source.endpoint, { keys: KEYS, pad: PAD });
      const src = client(source);
      const memory = await src.info('memory');
      src.disconnect();
      const datasetBytes = Number(/used_memory_dataset:(\d+)/.exec(memory)?.[1] ?? 0);
      o.progress(`${seeded.keys} keys, ${datasetBytes} bytes of dataset in ${((Date.now() - seedStarted) / 1000).toFixed(1)} s`);
      jobs = await startJobSystem({ dns: { server: sb.dns.server, port: sb.dns.port, name: dnsName }, port, password: PASSWORD, ratePerSec: 40, completionLog });
      await sleep(2000);

      checkAbort(o.signal);
      o.progress('raw baseline: pause, BGSAVE, scp, restart the target on the dump, DEBUG DIGEST on both');
      const raw = await rawBaseline(sb, source, target);
      o.progress(`raw: ${raw.rawBaselinePauseMs} ms (BGSAVE ${raw.rawBgsaveMs}, scp ${raw.rawCopyMs}, restart+load ${raw.rawRestartLoadMs}, digests ${raw.rawDigestMs}; equal ${raw.rawDigestsEqual})`);
      const t = client(target);
      await t.flushall();
      t.disconnect();
      rmSync(target.dumpPath, { force: true });

      checkAbort(o.signal);
      const plan = (mode: 'dump' | 'replicate') => {
        const file = writePlan(
          path.join(sb.stateDir, 'plans', `bench-redis-${id}-${mode}.yaml`),
          sandboxRedisMovePlan(sb, { name: `bench-${id}-${mode}`, mode, dnsName, port, passwordSecret, targetCtl: target.ctl, jobsUrl: jobs!.url, jobsTimeout: '60s' }),
        );
        planFiles.push(file);
        return file;
      };
      o.progress('dump mode move');
      const dump = await move(s, plan('dump'), o);
      const dumpPauseMs = stepSpan(dump, 'pause-writes', 'integrity');
      const f = dump.figures;
      o.progress(`dump: ${dump.outcome}, pause → compared ${dumpPauseMs} ms (bgsave ${stepMs(dump, 'bgsave')}, copy ${stepMs(dump, 'copy-dump')}, load ${stepMs(dump, 'start-target')}, compare ${stepMs(dump, 'integrity')})`);

      checkAbort(o.signal);
      const back = await putBack(sb, source, target, dnsName, jobs);
      o.progress(`put back on dc1 in ${back.putBackMs} ms (jobs paused, dc1 caught up and promoted, the name on dc1, jobs resumed)`);
      await sleep(2000);
      o.progress('replicate mode move');
      const repl = await move(s, plan('replicate'), o);
      o.progress(`replicate: ${repl.outcome}, initial sync ${stepMs(repl, 'replicate')} ms, write pause ${repl.figures.writePauseToPromotedMs} ms`);

      await sleep(2000);
      const count = await drainJobs(jobs, completionLog, 60_000);
      o.progress(`jobs: ${count.enqueued} enqueued, ${count.lost.length} lost, ${count.duplicates.length} run twice; completion log kept in ${completionLog}`);
      const duplicateRuns = jobRuns(completionLog, count.duplicates.slice(0, 20));
      for (const [job, runs] of Object.entries(duplicateRuns)) o.progress(`  ${job} ran ${runs.length} times: ${runs.join('; ')}`);
      const stepsBetween = (from: string, to: string) => {
        const i = dump.steps.findIndex((x) => x.name === from);
        const j = dump.steps.findIndex((x) => x.name === to);
        return dump.steps.slice(i, j + 1);
      };
      // The comparison runs beside BGSAVE, the copy and the load (it starts before the pause, or right after it):
      // the pause's steps run to whichever of it and the start of the target is listed last.
      const last = Math.max(...['integrity', 'start-target'].map((n) => dump.steps.findIndex((x) => x.name === n)));
      const inPause = stepsBetween('pause-writes', dump.steps[last].name);
      return {
        keys: seeded.keys,
        valuePadBytes: PAD,
        datasetBytes,
        dumpBytes: Number(f.dumpBytes),
        outcomes: { dump: dump.outcome, replicate: repl.outcome },
        keysCompared: Number(f.keysCompared),
        keysDifferent: Number(f.keysDifferent),
        compareKeysPerSec: Number(f.compareKeysPerSec),
        lostJobs: count.lost.length,
        duplicateJobs: count.duplicates.length,
        jobsEnqueued: count.enqueued,
        ...(count.lost.length > 0 ? { lostJobIds: count.lost.slice(0, 20) } : {}),
        ...(count.duplicates.length > 0 ? { duplicateJobRuns: duplicateRuns } : {}),
        jobLog: completionLog,
        dumpPauseMs,
        dumpSteps: {
          bgsaveMs: stepMs(dump, 'bgsave'),
          copyMs: stepMs(dump, 'copy-dump'),
          archiveMs: stepMs(dump, 'archive-dump'),
          stopPlaceStartMs: stepSpan(dump, 'stop-target', 'start-target'),
          compareMs: stepMs(dump, 'integrity'),
          // What the comparison adds after the target serves (all of it when it does not run beside the load).
          // The comparison beside the load: the source's half, its wait for the target, the target's half.
          // Read ahead (before the pause, jobs running): compareSourceMs is that reading, compareWaitMs the
          // following of changed keys until the target serves, compareSourceCatchUpMs the last of them read again.
          compareSourceMs: Number(f.compareSourceMs),
          compareWaitMs: Number(f.compareWaitMs),
          ...(f.compareSourceCatchUpMs !== undefined ? { compareSourceCatchUpMs: Number(f.compareSourceCatchUpMs) } : {}),
          compareTargetMs: Number(f.compareTargetMs),
          ...(f.readAhead !== undefined ? { readAhead: String(f.readAhead), readAheadReread: Number(f.readAheadReread ?? 0), readAheadFullRereads: Number(f.readAheadFullRereads ?? 0) } : {}),
          compareAfterLoadMs: Date.parse(dump.steps.find((x) => x.name === 'integrity')?.endedAt ?? '') - Date.parse(dump.steps.find((x) => x.name === 'start-target')?.endedAt ?? ''),
          // Inside those: the copy itself (rsync beside the source's checksum), the target's load.
          copyTransferMs: Number(f.copyMs),
          loadMs: Number(f.loadMs),
          // Every step in the pause (each from the end of the one before: workflow task and dispatch included).
          inPause: Object.fromEntries(inPause.map((x) => [x.name, Date.parse(x.endedAt ?? '') - Date.parse(x.startedAt)])),
        },
        // From the write pause to the old source fenced (gate approved at once, the switch, the fence).
        dumpWriteOutageMs: stepSpan(dump, 'pause-writes', 'fence-source'),
        ...raw,
        dumpVsRawRatio: ratio(dumpPauseMs, raw.rawBaselinePauseMs),
        replicateInitialSyncMs: stepMs(repl, 'replicate'),
        replicatePauseMs: Number(repl.figures.writePauseToPromotedMs),
        // The same pause to the name switched (counts equal, live differences compared again, DNS confirmed).
        replicatePauseToSwitchMs: Date.parse(repl.steps.find((x) => x.name === 'switch-traffic')?.endedAt ?? '') - Date.parse(String(repl.figures.writesPausedAt)),
        replicateLiveCompareMs: stepMs(repl, 'integrity'),
        replicateJobsPausedMs: stepSpan(repl, 'pause-jobs', 'resume-jobs'),
        putBackMs: back.putBackMs,
        workflows: { dump: `redis-move-bench-${id}-dump`, replicate: `redis-move-bench-${id}-replicate` },
      };
    } finally {
      await jobs?.stop();
      // The archived dump: a benchmark's is not worth keeping.
      await storageFromEnv().bucket(sb.gcs.bucket).file(`dumps/redis-move-bench-${id}-dump.rdb`).delete().catch(() => undefined);
      await source.stop();
      await target.stop();
      for (const p of planFiles) rmSync(p, { force: true });
      // The completion log stays (in the sandbox's logs): it is the evidence behind lostJobs and duplicateJobs.
      removeSecret(sandboxSecretsDir(sb), passwordSecret);
      try {
        setSandboxRecord(sb, dnsName, null);
      } catch {
        /* best effort */
      }
      worker.shutdown();
      await running.catch(() => undefined);
      await s.close();
    }
  },
};
