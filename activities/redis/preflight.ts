// Preflight of a Redis move: read-only looks at both servers, every problem reported at once.
// Both reachable with their passwords; the target can load the source's RDB format; the target empty (unless the
// plan allows overwriting) and not replicating from elsewhere; the source's dump location, persistence and
// memory settings reported, with what would make a dump or the move fail named as problems.
import type Redis from 'ioredis';
import { Problems } from '../remote/preflight';
import { withRedis, type RedisServerRef } from './client';
import { type DbKeyspace, parseInfo, parseKeyspace, parseVersion, rdbVersionOf } from './info';

export interface RedisPreflightInput {
  source: RedisServerRef;
  target: RedisServerRef & { overwrite: boolean };
}

export interface RedisServerFacts {
  version: string;
  /** The newest RDB format this server writes and loads. */
  rdbVersion: number | null;
  role: string;
  keyspace: DbKeyspace[];
  usedMemoryBytes: number;
  maxmemoryBytes: number;
  maxmemoryPolicy: string;
  /** CONFIG GET dir / dbfilename: where BGSAVE writes (changing them at run time is refused by default). */
  dir: string;
  dbfilename: string;
  save: string;
  appendonly: boolean;
  lastBgsaveOk: boolean;
  bgsaveInProgress: boolean;
  modules: string[];
}

export interface RedisPreflightResult {
  source: RedisServerFacts | null;
  target: RedisServerFacts | null;
}

/** CONFIG GET replies: flat [name, value, ...] (RESP2). */
function configMap(reply: unknown): Record<string, string> {
  const a = reply as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) out[a[i]] = a[i + 1];
  return out;
}

export async function serverFacts(r: Redis): Promise<RedisServerFacts> {
  const info = parseInfo(await r.info());
  const config = configMap(await r.call('CONFIG', 'GET', '*'));
  const modules = ((await r.call('MODULE', 'LIST')) as unknown[][]).map((m) => String(m[1]));
  const v = parseVersion(info.redis_version ?? '');
  return {
    version: info.redis_version ?? 'unknown',
    rdbVersion: v ? rdbVersionOf(v) : null,
    role: info.role ?? 'unknown',
    keyspace: parseKeyspace(Object.entries(info).map(([k, x]) => `${k}:${x}`).join('\n')),
    usedMemoryBytes: Number(info.used_memory ?? 0),
    maxmemoryBytes: Number(config.maxmemory ?? 0),
    maxmemoryPolicy: config['maxmemory-policy'] ?? '',
    dir: config.dir ?? '',
    dbfilename: config.dbfilename ?? '',
    save: config.save ?? '',
    appendonly: config.appendonly === 'yes',
    lastBgsaveOk: info.rdb_last_bgsave_status === 'ok',
    bgsaveInProgress: info.rdb_bgsave_in_progress === '1',
    modules,
  };
}

/** The problems two servers' facts show; pure, so each rule is unit-tested. */
export function redisProblems(s: RedisServerFacts, t: RedisServerFacts, overwrite: boolean): string[] {
  const p: string[] = [];
  if (s.rdbVersion === null) p.push(`source Redis ${s.version}: its RDB format is not known to cutover`);
  if (t.rdbVersion === null) p.push(`target Redis ${t.version}: its RDB format is not known to cutover`);
  if (s.rdbVersion !== null && t.rdbVersion !== null && t.rdbVersion < s.rdbVersion) {
    p.push(`target Redis ${t.version} loads RDB up to version ${t.rdbVersion}; the source (Redis ${s.version}) writes version ${s.rdbVersion}`);
  }
  const targetKeys = t.keyspace.reduce((n, d) => n + d.keys, 0);
  if (targetKeys > 0 && !overwrite) {
    p.push(`target holds ${targetKeys} keys (${t.keyspace.map((d) => `db${d.db}: ${d.keys}`).join(', ')}); set target.overwrite to replace them`);
  }
  if (t.role !== 'master') p.push(`target is a ${t.role === 'slave' ? 'replica of another server' : t.role}: it must be a primary of its own`);
  if (s.role !== 'master') p.push(`source is a ${s.role === 'slave' ? 'replica' : s.role}: move from the primary`);
  if (!s.lastBgsaveOk) p.push("source's last BGSAVE failed (rdb_last_bgsave_status:err): a dump would likely fail too; see its log");
  if (!s.dir || !s.dbfilename) p.push('source does not tell its dump location (CONFIG GET dir/dbfilename is empty; an empty dir: its persistence directory was deleted while Redis runs): BGSAVE cannot write the dump');
  if (t.maxmemoryBytes > 0 && t.maxmemoryBytes < s.usedMemoryBytes) {
    p.push(`target maxmemory ${t.maxmemoryBytes} bytes is below the source's ${s.usedMemoryBytes} bytes in use (policy ${t.maxmemoryPolicy}): keys would be evicted or writes refused`);
  }
  const missing = s.modules.filter((m) => !t.modules.includes(m));
  if (missing.length > 0) p.push(`target lacks the source's modules: ${missing.join(', ')}`);
  return p;
}

/** Read-only checks of both servers; every problem is reported at once (PreflightFailed), nothing is changed. */
export async function preflightRedis(input: RedisPreflightInput): Promise<RedisPreflightResult> {
  const problems = new Problems();
  const source = await problems.check(null, () => withRedis(input.source, (r) => serverFacts(r)));
  const target = await problems.check(null, () => withRedis(input.target, (r) => serverFacts(r)));
  if (source && target) for (const p of redisProblems(source, target, input.target.overwrite)) problems.add(p);
  problems.throwIfAny();
  return { source: source ?? null, target: target ?? null };
}
