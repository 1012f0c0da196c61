// Pure parts of the Redis move: INFO replies (copied from Redis 7.0.15), RDB versions, preflight rules, the
// RESP encoder and parser, printable keys, and the job counter.
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { printable } from '../../activities/redis/endpoint';
import { parseInfo, parseKeyspace, parsePersistence, parseReplication, parseVersion, rdbVersionOf } from '../../activities/redis/info';
import { redisProblems, type RedisServerFacts } from '../../activities/redis/preflight';
import { encode, parseReply, RespError } from '../../activities/redis/resp';
import { countJobs } from '../../scripts/workload/redis-jobs';

const PERSISTENCE = `# Persistence\r
loading:0\r
async_loading:0\r
current_cow_peak:0\r
rdb_changes_since_last_save:12\r
rdb_bgsave_in_progress:0\r
rdb_last_save_time:1795750000\r
rdb_last_bgsave_status:ok\r
rdb_last_bgsave_time_sec:0\r
aof_enabled:0\r
aof_rewrite_in_progress:0\r
`;

const MASTER = `# Replication\r
role:master\r
connected_slaves:1\r
slave0:ip=127.0.2.1,port=6379,state=online,offset=5234,lag=0\r
master_failover_state:no-failover\r
master_replid:8f0c1f0d\r
master_repl_offset:5262\r
`;

const REPLICA = `# Replication\r
role:slave\r
master_host:127.0.1.1\r
master_port:6379\r
master_link_status:up\r
master_last_io_seconds_ago:1\r
master_sync_in_progress:0\r
slave_read_repl_offset:5262\r
slave_repl_offset:5262\r
slave_priority:100\r
master_repl_offset:5262\r
`;

describe('INFO parsing', () => {
  it('reads fields and skips section headers', () => {
    expect(parseInfo('# Server\r\nredis_version:7.0.15\r\nfoo:a:b\r\n')).toEqual({ redis_version: '7.0.15', foo: 'a:b' });
  });

  it('reads the keyspace per db', () => {
    expect(parseKeyspace('# Keyspace\r\ndb0:keys=3100,expires=100,avg_ttl=0\r\ndb3:keys=2,expires=0,avg_ttl=0\r\n')).toEqual([
      { db: 0, keys: 3100, expires: 100 },
      { db: 3, keys: 2, expires: 0 },
    ]);
    expect(parseKeyspace('# Keyspace\r\n')).toEqual([]);
  });

  it('reads persistence', () => {
    expect(parsePersistence(PERSISTENCE)).toEqual({
      bgsaveInProgress: false, lastBgsaveOk: true, lastSaveTime: 1795750000, aofEnabled: false, aofRewriteInProgress: false, loading: false, changesSinceLastSave: 12,
    });
    expect(parsePersistence(PERSISTENCE.replace('status:ok', 'status:err').replace('in_progress:0', 'in_progress:1')))
      .toMatchObject({ lastBgsaveOk: false, bgsaveInProgress: true });
  });

  it('reads replication as a master and as a replica', () => {
    expect(parseReplication(MASTER)).toMatchObject({ role: 'master', offset: 5262, connectedReplicas: 1, replicas: [{ ip: '127.0.2.1', port: 6379, state: 'online', offset: 5234 }] });
    expect(parseReplication(REPLICA)).toMatchObject({ role: 'slave', masterHost: '127.0.1.1', masterPort: 6379, masterLinkUp: true, masterSyncInProgress: false, offset: 5262 });
    expect(parseReplication(REPLICA.replace('link_status:up', 'link_status:down')).masterLinkUp).toBe(false);
  });

  it('maps versions to the RDB format they load', () => {
    const rdb = (v: string) => rdbVersionOf(parseVersion(v)!);
    expect([rdb('7.0.15'), rdb('7.2.4'), rdb('7.4.1'), rdb('6.2.14'), rdb('5.0.7')]).toEqual([10, 11, 12, 9, 9]);
    expect(rdb('8.0.0')).toBeNull();
    expect(parseVersion('unknown')).toBeNull();
  });
});

describe('preflight rules', () => {
  const facts = (o: Partial<RedisServerFacts> = {}): RedisServerFacts => ({
    version: '7.0.15', rdbVersion: 10, role: 'master', keyspace: [], usedMemoryBytes: 1_000_000, maxmemoryBytes: 0, maxmemoryPolicy: 'noeviction',
    dir: '/var/lib/redis', dbfilename: 'dump.rdb', save: '3600 1', appendonly: false, lastBgsaveOk: true, bgsaveInProgress: false, modules: [], ...o,
  });

  it('finds nothing wrong with a compatible, empty target', () => {
    expect(redisProblems(facts(), facts(), false)).toEqual([]);
  });

  it('reports every problem at once', () => {
    const p = redisProblems(
      facts({ version: '7.4.1', rdbVersion: 12, lastBgsaveOk: false, modules: ['ReJSON'] }),
      facts({ keyspace: [{ db: 0, keys: 5, expires: 0 }], role: 'slave', maxmemoryBytes: 1000 }),
      false,
    );
    expect(p).toHaveLength(6);
    expect(p.join('\n')).toMatch(/loads RDB up to version 10; the source \(Redis 7.4.1\) writes version 12/);
    expect(p.join('\n')).toMatch(/target holds 5 keys \(db0: 5\); set target.overwrite/);
    expect(p.join('\n')).toMatch(/replica of another server/);
    expect(p.join('\n')).toMatch(/last BGSAVE failed/);
    expect(p.join('\n')).toMatch(/maxmemory 1000 bytes is below/);
    expect(p.join('\n')).toMatch(/lacks the source's modules: ReJSON/);
  });

  it('allows a non-empty target when overwrite is set, and a newer target', () => {
    expect(redisProblems(facts(), facts({ version: '7.2.4', rdbVersion: 11, keyspace: [{ db: 0, keys: 5, expires: 0 }] }), true)).toEqual([]);
  });
});

describe('RESP', () => {
  it('encodes commands with binary and UTF-8 arguments', () => {
    expect(encode([['SET', 'k', 12], ['GET', Buffer.from([0xff, 0])], ['SET', 'é', '']]).toString('latin1')).toBe(
      '*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n12\r\n*2\r\n$3\r\nGET\r\n$2\r\n\xff\x00\r\n*3\r\n$3\r\nSET\r\n$2\r\n\xc3\xa9\r\n$0\r\n\r\n',
    );
  });

  it('parses every reply type, and stops at a reply cut in half', () => {
    const buf = Buffer.from('+OK\r\n:-2\r\n$3\r\nabc\r\n$-1\r\n*2\r\n$1\r\nx\r\n*1\r\n:5\r\n-WRONGTYPE no\r\n*-1\r\n', 'latin1');
    const values = [];
    let pos = 0;
    while (pos < buf.length) {
      const r = parseReply(buf, pos);
      if (typeof r === 'symbol') throw new Error('incomplete');
      values.push(r.value);
      pos = r.next;
    }
    expect(values.slice(0, 4)).toEqual(['OK', -2, Buffer.from('abc'), null]);
    expect(values[4]).toEqual([Buffer.from('x'), [5]]);
    expect(values[5]).toBeInstanceOf(RespError);
    expect(values[6]).toBeNull();
    for (let cut = 1; cut < 19; cut++) expect(typeof parseReply(Buffer.from('*2\r\n$1\r\nx\r\n*1\r\n:5\r\n').subarray(0, cut), 0)).toBe('symbol');
  });

  it('prints binary keys so that different ones never print the same', () => {
    expect(printable(Buffer.from('user:1'))).toBe('user:1');
    expect(printable(Buffer.from([0x61, 0xff, 0x0a]))).toBe('a\\xff\\x0a');
    expect(printable(Buffer.from('a\\xff'))).toBe('a\\x5cxff');
  });
});

describe('job counting', () => {
  it('counts lost and twice-run jobs from the completion log', () => {
    const log = path.join(mkdtempSync(path.join(os.tmpdir(), 'jobs-')), 'done.log');
    writeFileSync(log, 'job-1 127.0.1.1 1\njob-2 127.0.1.1 2\njob-2 127.0.2.1 3\njob-4 127.0.2.1 4\n');
    expect(countJobs(['job-1', 'job-2', 'job-3', 'job-4'], log)).toEqual({ enqueued: 4, completed: 3, lost: ['job-3'], duplicates: ['job-2'] });
  });
});
