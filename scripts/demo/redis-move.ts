// The demo's Redis move: the sandbox's Redis pair (dc1 127.0.1.1:6379 → dc2 127.0.2.1:6379) with the sample
// redis-move plan (dump mode), while a live BullMQ job system (scripts/workload/redis-jobs.ts) adds 20 jobs a
// second through redis.sandbox.internal and its workers process them. The plan's hooks pause and resume it
// (redis-jobs-ctl.ts over SSH on dc1). bob says go at `cutover` (every key compared) and at `complete`. Then every
// job the producer saw acknowledged is looked for in the completion log: none lost, none run twice.
//
// A completed move leaves dc2 serving and dc1 its read-only replica, so this part starts by putting the pair back
// as the sandbox made it, when it is not. Alone, before a walk-through by hand:
//   npx tsx scripts/demo/redis-move.ts reset
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import Redis from 'ioredis';
import { formatReport } from '../cli/format';
import { loadSandbox, type SandboxEndpoints } from '../sandbox/endpoints';
import { findTools } from '../sandbox/install';
import { layout } from '../sandbox/layout';
import { livePid, tryRun, withLock } from '../sandbox/process';
import { redis, seedCommands } from '../sandbox/redis';
import { drainJobs, startJobSystem } from '../workload/redis-jobs';
import { type Demo, driveMigration, type MoveResult, pause, pointDns, resolve, say } from './drive';
import { sandboxRedisMovePlan } from '../plans/redis-move';
import { writePlan } from '../plans/sandbox';

/** The job system's control endpoint, as the sample plan's hooks call it. */
export const DEMO_JOBS_URL = 'http://127.0.0.1:7390';

async function onServer<T>(host: string, port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host, port, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false, retryStrategy: () => null });
  r.on('error', () => undefined);
  await r.connect();
  try {
    return await fn(r);
  } finally {
    r.disconnect();
  }
}

/** What an earlier move changed in the pair as the sandbox makes it; empty when there is nothing to reset. */
async function leftByEarlierMoves(sb: SandboxEndpoints, dnsName: string): Promise<string[]> {
  const l = layout(sb.stateDir);
  const found: string[] = [];
  const dns = await resolve(sb, dnsName);
  if (!(dns.length === 1 && dns[0] === sb.hosts.dc1.address)) found.push(`${dnsName} → ${dns.join(', ') || 'nothing'}`);
  for (const [dc, s] of [['dc1', sb.redis.source], ['dc2', sb.redis.target]] as const) {
    try {
      const [role, keys] = await onServer(s.host, s.port, async (r) => [/^role:(\w+)/m.exec(await r.info('replication'))?.[1], await r.dbsize()] as const);
      if (role !== 'master') found.push(`${dc} is a replica`);
      if (dc === 'dc2' && keys > 0) found.push(`dc2 holds ${keys} keys`);
      if (dc === 'dc1' && keys === 0) found.push('dc1 is empty');
    } catch (err) {
      found.push(`${dc} does not answer (${(err as Error).message})`);
    }
    // Restarted by a move through redis-ctl.sh: the sandbox starts it its own way again (pid where it looks).
    if (!livePid(l[dc].redisPid, 'redis-server') && livePid(l[dc].redisCtlPid, 'redis-server')) found.push(`${dc} was restarted by a move`);
    const leftovers = readdirSync(s.dir).filter((f) => f.includes('.cutover-'));
    if (leftovers.length) found.push(`${dc} has ${leftovers.join(', ')}`);
  }
  return found;
}

/** The pair as the sandbox makes it: both masters, dc1 seeded, dc2 empty, both run by the sandbox, the name on dc1. */
export async function putRedisPairBack(sb: SandboxEndpoints, dnsName = `redis.${sb.dns.zone}`): Promise<void> {
  const found = await leftByEarlierMoves(sb, dnsName);
  if (!found.length) return;
  say(`an earlier move changed the sandbox's Redis pair: ${found.join('; ')}`);
  say('resetting it: both masters again, dc2 emptied, dc1 seeded afresh (the job queue too), the name back on dc1');
  const l = layout(sb.stateDir);
  await withLock(l, async () => {
    for (const dc of ['dc1', 'dc2'] as const) {
      if (!livePid(l[dc].redisPid, 'redis-server') && livePid(l[dc].redisCtlPid, 'redis-server')) {
        tryRun('runuser', ['-u', 'cutover', '--', 'sh', l[dc].redisCtl, 'stop'], { timeoutMs: 30_000 });
        const r = await redis({ l, tools: findTools() }, dc).up();
        console.log(`  redis-${dc}: ${r.note} by the sandbox`);
      }
    }
  });
  for (const [dc, s] of [['dc1', sb.redis.source], ['dc2', sb.redis.target]] as const) {
    await onServer(s.host, s.port, async (r) => {
      await r.call('REPLICAOF', 'NO', 'ONE');
      await r.call('CLIENT', 'UNPAUSE');
      await r.flushall();
    });
    for (const f of readdirSync(s.dir).filter((n) => n.includes('.cutover-'))) rmSync(path.join(s.dir, f), { force: true });
    console.log(`  ${dc}: a master, emptied`);
  }
  const seed = seedCommands();
  const piped = tryRun('redis-cli', ['-h', sb.redis.source.host, '-p', String(sb.redis.source.port), '--pipe'], { input: seed.text, timeoutMs: 30_000 });
  if (piped.code !== 0 || !/errors: 0/.test(piped.stdout)) throw new Error(`seeding dc1 failed: ${piped.stdout}${piped.stderr}`);
  await onServer(sb.redis.source.host, sb.redis.source.port, (r) => r.bgsave());
  console.log(`  dc1: seeded with ${seed.keys} keys`);
  if (await pointDns(sb, dnsName, sb.hosts.dc1.address)) console.log(`  ${dnsName} → ${sb.hosts.dc1.address}`);
}

export async function redisMoveDemo(d: Demo): Promise<MoveResult> {
  const { sb } = d;
  const dc1 = sb.hosts.dc1.address;
  const dc2 = sb.hosts.dc2.address;
  const dnsName = `redis.${sb.dns.zone}`;
  await putRedisPairBack(sb, dnsName);

  const planFile = writePlan(
    path.join(sb.stateDir, 'plans', 'redis-move-demo.yaml'),
    // As scripts/plans/write-sandbox-plan.ts writes it for the README's walk-through.
    sandboxRedisMovePlan(sb, { name: `redis-${d.stamp}`, dnsName, jobsUrl: DEMO_JOBS_URL, complete: true }),
  );
  say(`plan: ${planFile}`);

  const completionLog = path.join(sb.stateDir, 'logs', 'redis-jobs-demo.log');
  rmSync(completionLog, { force: true });
  const jobs = await startJobSystem({
    dns: { server: sb.dns.server, port: sb.dns.port, name: dnsName },
    port: sb.redis.source.port,
    completionLog,
    ratePerSec: 20,
    control: { host: '127.0.0.1', port: Number(new URL(DEMO_JOBS_URL).port) },
  });
  say(`a live job system adds 20 jobs a second through ${dnsName}; its workers process them (hooks: ${DEMO_JOBS_URL})`);
  try {
    await pause(2000);
    const { id, link, final } = await driveMigration(d, planFile, { cutover: 'demo: every key identical', complete: 'demo: jobs run on dc2' });
    // A few seconds of jobs on the new side, then every acknowledged job must have completed exactly once.
    await pause(2000);
    const count = await drainJobs(jobs, completionLog, 30_000);
    console.log('');
    console.log(formatReport(id, final));
    console.log('');
    const lines = readFileSync(completionLog, 'utf8').split('\n').filter(Boolean);
    const on = (address: string) => lines.filter((l) => l.split(' ')[1] === address).length;
    const [now = 'nothing'] = await resolve(sb, dnsName);
    say(
      `${dnsName} → ${now}; the job system enqueued ${count.enqueued} jobs: ${on(dc1)} completed on dc1, ${on(dc2)} on dc2; ` +
        `${count.lost.length} lost, ${count.duplicates.length} run twice`,
    );
    say(`outcome: ${final.outcome}. Web UI: ${link}`);
    return {
      id,
      outcome: final.outcome,
      ok: final.outcome === 'completed' && count.lost.length === 0 && count.duplicates.length === 0 && count.enqueued > 0,
      afterwards:
        final.outcome === 'completed'
          ? `Redis now serves on dc2 (${dc2}:6379); dc1 is its read-only replica. The next \`npm run demo\` (or \`npx tsx scripts/demo/redis-move.ts reset\`) puts the pair back`
          : undefined,
    };
  } finally {
    await jobs.stop();
  }
}

if (require.main === module) {
  if (process.argv[2] !== 'reset') {
    console.error('usage: tsx scripts/demo/redis-move.ts reset');
    process.exit(2);
  }
  const sb = loadSandbox();
  putRedisPairBack(sb).then(
    () => {
      say(`the sandbox's Redis pair is as the sandbox made it: dc1 seeded, dc2 empty, redis.${sb.dns.zone} → ${sb.hosts.dc1.address}`);
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
