// Test and benchmark data for Redis moves: keys of every type (strings, hashes, lists, sets, sorted sets,
// streams with a consumer group), a share of them with TTLs, binary keys and values, and optionally big values
// that only page-by-page reads can compare. Written through pipelines, deterministic for a given seed count.
import { randomBytes } from 'node:crypto';
import type { RedisEndpoint } from '../../activities/redis/endpoint';
import { type Arg, RespConnection, RespError } from '../../activities/redis/resp';

export interface SeedOptions {
  keys: number;
  /** Key prefix, so tests can share a server without meeting each other's keys. */
  prefix?: string;
  db?: number;
  /** Also one hash, set, zset and list of `bigSize` elements, a stream of bigSize/10 entries, a 3 MiB string. */
  big?: boolean;
  bigSize?: number;
  /**
   * Bytes added to every string value and as a `blob` field of every hash (a dataset of bigger values): random
   * text, a different slice for each key, so the RDB's compression cannot shrink it (as with real data).
   */
  pad?: number;
}

export interface SeedResult {
  keys: number;
  byType: Record<string, number>;
}

/** Writes `keys` keys (plus the big ones); returns how many of each type. */
export async function seedRedis(ep: RedisEndpoint, o: SeedOptions): Promise<SeedResult> {
  const p = o.prefix ?? 'seed:';
  const pool = o.pad ? randomBytes(1 << 20).toString('base64') : '';
  const padOf = (i: number) => (o.pad ? pool.slice((i * 7919) % (pool.length - o.pad), ((i * 7919) % (pool.length - o.pad)) + o.pad) : '');
  const conn = await RespConnection.open(ep, o.db ?? 0);
  const byType: Record<string, number> = {};
  const count = (t: string) => (byType[t] = (byType[t] ?? 0) + 1);
  try {
    let cmds: Arg[][] = [];
    const flush = async (force = false) => {
      if (cmds.length < 5000 && !force) return;
      const replies = await conn.exec(cmds);
      const bad = replies.find((r) => r instanceof RespError) as RespError | undefined;
      if (bad) throw new Error(`seeding ${ep.label ?? ep.host}: ${bad.message}`);
      cmds = [];
    };
    for (let i = 0; i < o.keys; i++) {
      const slot = i % 100;
      if (slot < 60) {
        cmds.push(['SET', `${p}str:${i}`, `value-${i}-${'x'.repeat(i % 40)}${padOf(i)}`]);
        count('string');
      } else if (slot < 70) {
        cmds.push(['HSET', `${p}hash:${i}`, 'name', `n${i}`, 'plan', ['free', 'pro', 'team'][i % 3], 'n', i, 'at', 1_700_000_000 + i, ...(o.pad ? ['blob', padOf(i)] : [])]);
        count('hash');
      } else if (slot < 78) {
        cmds.push(['RPUSH', `${p}list:${i}`, `a${i}`, `b${i}`, `c${i}`, `d${i}`]);
        count('list');
      } else if (slot < 86) {
        cmds.push(['SADD', `${p}set:${i}`, `m${i % 7}`, `m${i % 11}`, `m${i % 13}`, `x${i}`]);
        count('set');
      } else if (slot < 94) {
        cmds.push(['ZADD', `${p}zset:${i}`, i % 10, `p${i}`, 0.1 * (i % 7), `q${i}`, -3, `r${i}`]);
        count('zset');
      } else if (slot < 97) {
        const k = `${p}stream:${i}`;
        cmds.push(['XADD', k, `${i}-1`, 'job', `j${i}`], ['XADD', k, `${i}-2`, 'job', `k${i}`, 'try', 2]);
        if (i % 2 === 0) cmds.push(['XGROUP', 'CREATE', k, 'workers', '0']);
        count('stream');
      } else if (slot < 99) {
        cmds.push(['SET', `${p}ttl:${i}`, `expiring-${i}`, 'EX', 3600 + (i % 1000)]);
        count('string');
      } else {
        // Binary key and value: bytes that are not UTF-8.
        cmds.push(['SET', Buffer.concat([Buffer.from(`${p}bin:${i}:`), Buffer.from([0xff, 0xfe, i % 256])]), Buffer.from([0x80, 0x81, i % 256, 0])]);
        count('string');
      }
      await flush();
    }
    await flush(true);
    if (o.big) {
      const n = o.bigSize ?? 100_000;
      for (let off = 0; off < n; off += 1000) {
        const end = Math.min(n, off + 1000);
        const fields: Arg[] = [];
        const members: Arg[] = [];
        const scored: Arg[] = [];
        const items: Arg[] = [];
        for (let j = off; j < end; j++) {
          fields.push(`f${j}`, `v${j}`);
          members.push(`m${j}`);
          scored.push(j, `z${j}`);
          items.push(`e${j}`);
        }
        cmds.push(['HSET', `${p}big:hash`, ...fields], ['SADD', `${p}big:set`, ...members], ['ZADD', `${p}big:zset`, ...scored], ['RPUSH', `${p}big:list`, ...items]);
      }
      for (let j = 1; j <= Math.ceil(n / 10); j++) cmds.push(['XADD', `${p}big:stream`, `${j}-0`, 'n', j]);
      cmds.push(['SET', `${p}big:string`, Buffer.alloc(3 << 20, 'abcdefgh')]);
      for (const t of ['hash', 'set', 'zset', 'list', 'stream', 'string']) count(t);
      await flush(true);
    }
    const keys = Object.values(byType).reduce((a, b) => a + b, 0);
    return { keys, byType };
  } finally {
    conn.close();
  }
}
