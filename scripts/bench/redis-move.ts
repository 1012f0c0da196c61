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
//   replicate  the pair put back (the old source a master again, the target emptied, the name on dc1), then a
//              redis-move in replicate mode: its initial sync, and its write pause (pause → REPLICAOF NO ONE).
// Afterwards every job the producer saw acknowledged must have completed exactly once.
//
//   npm run bench -- redis-move        (CUTOVER_BENCH_REDIS_KEYS, CUTOVER_BENCH_REDIS_PAD to size the dataset)
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import Redis from 'ioredis';
import { storageFromEnv } from '../../activities/clients/gcs';
import { withSsh } from '../../activities/clients/ssh';
import { bgsaveAndWait, promote } from '../../activities/redis/replication';
import { createWorker } from '../../workers/main';
import type { MigrationStatus } from '../../workflows/shared';
import * as svc from '../cli/services';
import { sandboxRedisMovePlan } from '../plans/redis-move';
import { writePlan } from '../plans/sandbox';
import { putSecret, removeSecret } from '../sandbox/secrets';
import { loadSandbox, sandboxSecretsDir, sandboxSshHost, setSandboxRecord, type SandboxEndpoints, useSandboxWorkerEnv } from '../sandbox/endpoints';
import { drainJobs, type JobSystem, startJobSystem } from '../workload/redis-jobs';
import { seedRedis } from '../workload/redis-data';
import { type ControlledRedis, freePortOnAll, startControlledRedis } from '../workload/redis-servers';
import type { Benchmark, BenchOptions } from './main';
import { ratio } from './stats';
import { sandboxSigningKeys } from '../sandbox/people';

/**
 * The dataset: KEYS keys, values padded to PAD bytes. The defaults keep the shape of REFERENCE.md's 1 GiB / 2 M keys
 * (about 500 bytes a key) at half its size, which this 2-core machine moves a few times in one run; set them to
 * 2000000 / 450 for the full size.
 */
const KEYS = Number(process.env.CUTOVER_BENCH_REDIS_KEYS ?? 1_000_000);
const PAD = Number(process.env.CUTOVER_BENCH_REDIS_PAD ?? 450);
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

/** The pair as before a move: the old source a master again, the target emptied, the name on dc1. */
async function putBack(sb: SandboxEndpoints, source: ControlledRedis, target: ControlledRedis, dnsName: string, jobs: JobSystem): Promise<void> {
  const s = client(source);
  const t = client(target);
  try {
    await promote(s);
    await s.call('CLIENT', 'UNPAUSE');
    setSandboxRecord(sb, dnsName, sb.hosts.dc1.address);
    for (let i = 0; i < 100 && jobs.address !== sb.hosts.dc1.address; i++) await sleep(100);
    await t.flushall();
  } finally {
    s.disconnect();
    t.disconnect();
  }
}

export const redisMoveBenchmark: Benchmark = {
  summary: 'Redis move: dump mode (pause → dump → copy → load → key-by-key compare) vs the same by hand with DEBUG DIGEST; replicate mode write pause',
  async run(o) {
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
      await putBack(sb, source, target, dnsName, jobs);
      await sleep(2000);
      o.progress('replicate mode move');
      const repl = await move(s, plan('replicate'), o);
      o.progress(`replicate: ${repl.outcome}, initial sync ${stepMs(repl, 'replicate')} ms, write pause ${repl.figures.writePauseToPromotedMs} ms`);

      await sleep(2000);
      const count = await drainJobs(jobs, completionLog, 60_000);
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
        dumpPauseMs,
        dumpSteps: {
          bgsaveMs: stepMs(dump, 'bgsave'),
          copyMs: stepMs(dump, 'copy-dump'),
          archiveMs: stepMs(dump, 'archive-dump'),
          stopPlaceStartMs: stepSpan(dump, 'stop-target', 'start-target'),
          compareMs: stepMs(dump, 'integrity'),
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
        workflows: { dump: `redis-move-bench-${id}-dump`, replicate: `redis-move-bench-${id}-replicate` },
      };
    } finally {
      await jobs?.stop();
      // The archived dump: a benchmark's is not worth keeping.
      await storageFromEnv().bucket(sb.gcs.bucket).file(`dumps/redis-move-bench-${id}-dump.rdb`).delete().catch(() => undefined);
      await source.stop();
      await target.stop();
      for (const p of planFiles) rmSync(p, { force: true });
      rmSync(completionLog, { force: true });
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
