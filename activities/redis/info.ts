// Pure readings of Redis replies: INFO sections, the keyspace, versions and the RDB format each can load.
// No I/O here, so every parse is unit-tested on replies copied from real servers.

/** `INFO` text → field → value (section headers and blank lines dropped). */
export function parseInfo(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    if (!line || line.startsWith('#')) continue;
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

export interface DbKeyspace {
  db: number;
  keys: number;
  expires: number;
}

/** `INFO keyspace` (`db0:keys=3100,expires=100,avg_ttl=0`) → one entry per db that holds keys, by db index. */
export function parseKeyspace(text: string): DbKeyspace[] {
  const out: DbKeyspace[] = [];
  for (const [field, value] of Object.entries(parseInfo(text))) {
    const m = /^db(\d+)$/.exec(field);
    if (!m) continue;
    const kv = Object.fromEntries(value.split(',').map((p) => p.split('=') as [string, string]));
    out.push({ db: Number(m[1]), keys: Number(kv.keys ?? 0), expires: Number(kv.expires ?? 0) });
  }
  return out.sort((a, b) => a.db - b.db);
}

export interface Version {
  major: number;
  minor: number;
  patch: number;
}

export function parseVersion(v: string): Version | null {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v.trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : null;
}

/**
 * The newest RDB format a server of this version writes and reads (rdb.h RDB_VERSION): a target loads an RDB
 * file only if its own number is at least the source's. Null for a version this table does not know.
 */
export function rdbVersionOf(v: Version): number | null {
  const table: Array<[number, number, number]> = [
    // [major, minor, RDB version], newest first
    [7, 4, 12],
    [7, 2, 11],
    [7, 0, 10],
    [6, 2, 9],
    [6, 0, 9],
    [5, 0, 9],
    [4, 0, 8],
    [3, 2, 7],
  ];
  if (v.major > 7 || (v.major === 7 && v.minor > 4)) return null;
  for (const [major, minor, rdb] of table) if (v.major > major || (v.major === major && v.minor >= minor)) return rdb;
  return null;
}

export interface Persistence {
  bgsaveInProgress: boolean;
  lastBgsaveOk: boolean;
  lastSaveTime: number;
  aofEnabled: boolean;
  aofRewriteInProgress: boolean;
  loading: boolean;
  changesSinceLastSave: number;
}

/** `INFO persistence` → what a dump and a cutover need to know. */
export function parsePersistence(text: string): Persistence {
  const f = parseInfo(text);
  return {
    bgsaveInProgress: f.rdb_bgsave_in_progress === '1',
    lastBgsaveOk: f.rdb_last_bgsave_status === 'ok',
    lastSaveTime: Number(f.rdb_last_save_time ?? 0),
    aofEnabled: f.aof_enabled === '1',
    aofRewriteInProgress: f.aof_rewrite_in_progress === '1',
    loading: f.loading === '1',
    changesSinceLastSave: Number(f.rdb_changes_since_last_save ?? 0),
  };
}

export interface Replication {
  role: 'master' | 'slave' | string;
  /** As a replica: the link to its master. */
  masterHost?: string;
  masterPort?: number;
  masterLinkUp?: boolean;
  masterSyncInProgress?: boolean;
  /** As a replica: how far it has processed its master's stream; as a master: how far its own stream is. */
  offset: number;
  connectedReplicas: number;
  /** As a master: each replica's address and acknowledged offset. */
  replicas: Array<{ ip: string; port: number; state: string; offset: number }>;
}

/** `INFO replication` of either role. */
export function parseReplication(text: string): Replication {
  const f = parseInfo(text);
  const replicas: Replication['replicas'] = [];
  for (const [k, v] of Object.entries(f)) {
    if (!/^slave\d+$/.test(k)) continue;
    const kv = Object.fromEntries(v.split(',').map((p) => p.split('=') as [string, string]));
    replicas.push({ ip: kv.ip, port: Number(kv.port), state: kv.state, offset: Number(kv.offset) });
  }
  const slave = f.role === 'slave';
  return {
    role: f.role,
    masterHost: slave ? f.master_host : undefined,
    masterPort: slave ? Number(f.master_port) : undefined,
    masterLinkUp: slave ? f.master_link_status === 'up' : undefined,
    masterSyncInProgress: slave ? f.master_sync_in_progress === '1' : undefined,
    offset: Number(slave ? (f.slave_repl_offset ?? f.master_repl_offset) : f.master_repl_offset) || 0,
    connectedReplicas: Number(f.connected_slaves ?? 0),
    replicas,
  };
}
