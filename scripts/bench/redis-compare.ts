// Benchmark of the Redis integrity comparison: 1M keys of every type (plus big values) on a throwaway source in
// dc1 (127.0.1.1), copied to a throwaway target in dc2 (127.0.2.1) by replication, then a handful of known
// differences injected on the target, then one full comparison. Prints one JSON line: keysCompared,
// keysPerSec, keysDifferent (must equal the injected count), and the rest of the figures.
//
//   npx tsx scripts/bench/redis-compare.ts [--keys 1000000] [--pad 0] [--connections 4] [--batch 1000] [--ways digest,frozen,values]
//     [--rounds 1]   (--connections and --batch take lists, 4,8: every way runs with each, in turn, `rounds` times)
//     [--commandstats]   (calls and µs per call of each command on both servers, per way)
import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import { compareRedis } from '../../activities/redis/compare';
import { awaitCaughtUp, promote, replicaOf } from '../../activities/redis/replication';
import { seedRedis } from '../workload/redis-data';
import { startThrowawayRedis } from '../workload/redis-servers';

/** Calls and server time of each command since the last CONFIG RESETSTAT (INFO commandstats): where a server's CPU goes. */
async function commandStats(r: Redis): Promise<Record<string, { calls: number; usecPerCall: number }>> {
  const out: Record<string, { calls: number; usecPerCall: number }> = {};
  for (const line of String(await r.info('commandstats')).split('\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+),usec=\d+,usec_per_call=([\d.]+)/.exec(line);
    if (m) out[m[1]] = { calls: Number(m[2]), usecPerCall: Number(m[3]) };
  }
  return out;
}

/** CPU time (user + system) a process has used, from /proc. */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Math.round(((Number(f[11]) + Number(f[12])) * 1000) / 100); // clock ticks of 10 ms
}

/** `--name 4,8`: each value, in order (runs are repeated for each). */
function args(name: string, dflt: number): number[] {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1].split(',').map(Number) : [dflt];
}

/** CPU time all processes of the machine have used (user, nice, system, irq, softirq, steal), from /proc/stat. */
function machineBusyMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return Math.round(((f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 1000) / 100);
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
}

/** Differences the comparison must find, one of each kind redis-full-check is known to miss and more. */
export const INJECTED: Array<[string, ...Array<string | number>]> = [
  ['HSET', 'seed:hash:60', 'plan', 'changed'], // a changed hash field
  ['LSET', 'seed:list:70', 2, 'X'], // LSET
  ['RPUSH', 'seed:list:71', 'appended'], // an appended list element
  ['XADD', 'seed:stream:94', '*', 'late', 'entry'], // an appended stream entry
  ['PEXPIRE', 'seed:str:0', 999_999_000], // a TTL that the source does not have
  ['SET', 'only-on-target', '1'], // a key only on the target
  ['DEL', 'seed:str:1'], // a key missing on the target
  ['HSET', 'seed:big:hash', 'f99999', 'changed'], // a field deep in a big hash
  ['SADD', 'seed:set:78', 'extra'], // an extra set member
  ['ZADD', 'seed:zset:86', 5, 'p86'], // a changed score
];

async function main(): Promise<void> {
  const keys = arg('keys', 1_000_000);
  const source = await startThrowawayRedis({ address: '127.0.1.1', password: 'bench', label: 'source' });
  const target = await startThrowawayRedis({ address: '127.0.2.1', password: 'bench', label: 'target' });
  const src = new Redis({ ...source.endpoint, lazyConnect: false });
  const tgt = new Redis({ ...target.endpoint, lazyConnect: false });
  try {
    const t0 = Date.now();
    const seeded = await seedRedis(source.endpoint, { keys, big: true, bigSize: 100_000, pad: arg('pad', 0) });
    const seedMs = Date.now() - t0;
    await replicaOf(tgt, { host: source.endpoint.host, port: source.endpoint.port, password: 'bench' });
    await awaitCaughtUp(src, tgt, { timeoutMs: 300_000 });
    await promote(tgt);
    for (const cmd of INJECTED) await tgt.call(cmd[0], cmd.slice(1) as Array<string | number>);
    // Each way of comparing on the same data, one after the other.
    const ways = (process.argv.includes('--ways') ? process.argv[process.argv.indexOf('--ways') + 1] : 'digest,frozen,values').split(',');
    const runs = [];
    const settings = args('connections', 4).flatMap((connections) => args('batch', 1000).map((batch) => ({ connections, batch })));
    for (let round = 0; round < arg('rounds', 1); round++) for (const way of ways) for (const { connections, batch } of settings) {
      await Promise.all([src.config('RESETSTAT'), tgt.config('RESETSTAT')]);
      const cpu0 = [cpuMs(source.pid), cpuMs(target.pid), process.cpuUsage(), machineBusyMs()] as const;
      const r = await compareRedis({
        source: source.endpoint,
        target: target.endpoint,
        connections,
        batch,
        method: way === 'values' ? 'values' : 'digest',
        frozen: way === 'frozen',
      });
      const node = process.cpuUsage(cpu0[2]);
      const cpu = { sourceMs: cpuMs(source.pid) - cpu0[0], targetMs: cpuMs(target.pid) - cpu0[1], workerMs: Math.round((node.user + node.system) / 1000), othersMs: 0 };
      // What the rest of the machine took meanwhile (the machine is shared: other runs slow this one down).
      cpu.othersMs = Math.max(0, machineBusyMs() - cpu0[3] - cpu.sourceMs - cpu.targetMs - cpu.workerMs);
      const commands = process.argv.includes('--commandstats') ? { source: await commandStats(src), target: await commandStats(tgt) } : undefined;
      runs.push({ way, connections, batch, method: r.method, cpu, commands, keysCompared: r.keysCompared, targetKeysScanned: r.targetKeysScanned, keysPerSec: r.keysPerSec, elapsedMs: r.elapsedMs, keysDifferent: r.keysDifferent, allFound: r.keysDifferent === INJECTED.length, byKind: r.byKind, bigKeys: r.bigKeys });
    }
    const out = {
      bench: 'redis-compare',
      keysSeeded: seeded.keys,
      seedMs,
      injected: INJECTED.length,
      allFound: runs.every((r) => r.allFound),
      runs,
      pad: arg('pad', 0),
    };
    console.log(JSON.stringify(out));
    if (!out.allFound) process.exitCode = 1;
  } finally {
    src.disconnect();
    tgt.disconnect();
    await source.stop();
    await target.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
