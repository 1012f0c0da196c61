// The integrity comparison on real servers: a throwaway source in dc1 (127.0.1.1) copied by replication to a
// throwaway target in dc2 (127.0.2.1), 20k keys of every type plus big values. Each difference redis-full-check
// is known to miss (a changed hash field, LSET, an appended list element, an appended stream entry, a TTL change,
// a key only on the target) is injected alone and must be found, with the right kind, and nothing else, by each
// method, and by dump mode's comparison in two halves (compare-snapshot.ts), also with the source read ahead while
// it is live (its changes followed through CLIENT TRACKING), each with tests of its own below.
import Redis from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compareRedis, type CompareOptions, type CompareResult, type DiffKind } from '../../activities/redis/compare';
import { printable } from '../../activities/redis/endpoint';
import { compareSnapshot, type ReadAhead, type SnapshotCompareOptions, type SnapshotCompareResult } from '../../activities/redis/compare-snapshot';
import { awaitCaughtUp, promote, replicaOf } from '../../activities/redis/replication';
import { seedRedis } from '../../scripts/workload/redis-data';
import { startThrowawayRedis, type ThrowawayRedis } from '../../scripts/workload/redis-servers';

let source: ThrowawayRedis;
let target: ThrowawayRedis;
let src: Redis;
let tgt: Redis;
/** The target's db 2, where the big values are. */
let tgtBig: Redis;
/** The source's connections by db, for the tests that change the source itself. */
const srcDbs = new Map<number, Redis>();
function srcOn(db: number): Redis {
  let r = srcDbs.get(db);
  if (!r) srcDbs.set(db, (r = new Redis({ ...source.endpoint, protocol: 2, db })));
  return r;
}

/** Puts the target back to an exact copy of the source. */
async function resync(): Promise<void> {
  await tgt.flushall();
  await tgt.call('REPLICAOF', 'NO', 'ONE'); // forget the last master, so replicaOf starts a new sync
  await replicaOf(tgt, { host: source.endpoint.host, port: source.endpoint.port, password: 'pw' });
  await awaitCaughtUp(src, tgt, { timeoutMs: 60_000 });
  await promote(tgt);
}

/** How the tests of the current `describe` compare, unless a test says otherwise. */
let how: Pick<CompareOptions, 'method' | 'frozen'> & { halves?: boolean; readAhead?: boolean } = {};
/** What `onRead` heard in the last comparison read ahead. */
let reports: ReadAhead[] = [];
const onRead = (r: ReadAhead) => {
  reports.push(r);
};
/** Dump mode's comparison in two halves, the target ready at once unless a test says otherwise. */
const halves = (o: Partial<SnapshotCompareOptions> = {}) => compareSnapshot({ source: source.endpoint, target: target.endpoint, targetReady: async () => undefined, ...o });
const compare = (o: Partial<CompareOptions> = {}): Promise<CompareResult> => {
  if (!how.halves) return compareRedis({ source: source.endpoint, target: target.endpoint, ...how, ...o });
  // The halves read every db (no `dbs`) and report their own progress: a tick is a tick.
  const { dbs: _dbs, onProgress, ...rest } = o;
  reports = [];
  return halves({ ...rest, ...(how.readAhead ? { readAhead: { onRead } } : {}), ...(onProgress ? { onProgress: (p) => onProgress({ db: 0, phase: 'compare', keysCompared: p.sourceKeys + p.targetKeys, targetKeysScanned: p.targetKeys } as Parameters<typeof onProgress>[0]) } : {}) });
};

function only(r: CompareResult, kind: DiffKind, key: string): string {
  expect(r.keysDifferent, JSON.stringify(r.differences)).toBe(1);
  expect(r.byKind[kind]).toBe(1);
  expect(r.differences[0]).toMatchObject({ db: 0, kind, key });
  return r.differences[0].detail;
}

beforeAll(async () => {
  // No diskless-sync delay: each test resyncs the target, which would otherwise wait 5 s before the transfer.
  const args = ['--repl-diskless-sync-delay', '0'];
  source = await startThrowawayRedis({ address: '127.0.1.1', password: 'pw', label: 'source', args });
  target = await startThrowawayRedis({ address: '127.0.2.1', password: 'pw', label: 'target', args });
  src = new Redis({ ...source.endpoint, protocol: 2 });
  tgt = new Redis({ ...target.endpoint, protocol: 2 });
  tgtBig = new Redis({ ...target.endpoint, protocol: 2, db: 2 });
  await seedRedis(source.endpoint, { keys: 20_000 });
  await seedRedis(source.endpoint, { keys: 0, big: true, bigSize: 20_000, db: 2 });
  await src.set('seed:expiring', 'x', 'PX', 600_000);
  await src.select(3);
  await src.set('db3:key', 'in another db');
  await src.select(0);
});

afterAll(async () => {
  for (const r of srcDbs.values()) r.disconnect();
  src?.disconnect();
  tgt?.disconnect();
  tgtBig?.disconnect();
  await source?.stop();
  await target?.stop();
});

// Every difference is looked for five ways: values read by the worker (the default); digests on the servers,
// batch by batch; frozen digests (each side digested on its own, summed in buckets, the buckets that differ
// compared key by key); dump mode's two halves (the source fingerprinted first, then the target looked up in it);
// the halves with the source read ahead (tracked for changes until the target is ready; here nothing changes it).
describe.each([
  { name: 'digest', method: 'digest', frozen: false, halves: false, readAhead: false },
  { name: 'frozen', method: 'digest', frozen: true, halves: false, readAhead: false },
  { name: 'values', method: 'values', frozen: false, halves: false, readAhead: false },
  { name: 'two halves', method: 'values', frozen: false, halves: true, readAhead: false },
  { name: 'read ahead', method: 'values', frozen: false, halves: true, readAhead: true },
] as const)('redis compare ($name)', ({ method, frozen, halves: inHalves, readAhead }) => {
  beforeAll(() => {
    how = { method, frozen, halves: inHalves, readAhead };
  });
  beforeEach(resync);

  it('finds an exact copy equal, in every db, both directions, big values in pages', async () => {
    const progress: number[] = [];
    // Writes paused on the source, as in a dump-mode move: the digest script is read-only, so it still runs.
    await src.call('CLIENT', 'PAUSE', 60_000, 'WRITE');
    const r = await compare({ onProgress: (p) => progress.push(p.keysCompared), progressEveryMs: 0 }).finally(() => src.call('CLIENT', 'UNPAUSE'));
    expect(r.method).toBe(method);
    expect(r.differences).toEqual([]);
    if (how.halves) expect((r as SnapshotCompareResult).expiries).toMatch(/proven without asking each/);
    expect(r.equal).toBe(true);
    expect(r.dbs).toEqual([
      { db: 0, sourceKeys: 20_001, targetKeys: 20_001 },
      { db: 2, sourceKeys: 6, targetKeys: 6 },
      { db: 3, sourceKeys: 1, targetKeys: 1 },
    ]);
    expect(r.keysCompared).toBe(20_008);
    expect(r.targetKeysScanned).toBe(20_008);
    expect(r.bigKeys).toBe(6); // hash, set, zset, list, stream of 20k, a 3 MiB string
    if (readAhead) {
      // Read ahead once, and the paused source changed nothing to read again.
      expect(reports).toEqual([expect.objectContaining({ ahead: true, keys: 20_008, reread: 0, fullRereads: 0 })]);
      const { readAhead: ahead } = r as SnapshotCompareResult;
      expect(ahead).toMatchObject({ ahead: true, keys: 20_008, reread: 0, fullRereads: 0 });
      expect(ahead?.note).toBeUndefined();
    }
    expect(progress.length).toBeGreaterThan(2);
    // Pages of 3 elements and strings in 10-byte chunks: lists, streams and strings of the small keys go
    // through the paged comparison too, and are still equal.
    const paged = await compare({ dbs: [0], pageSize: 3, stringChunk: 10 });
    expect(paged.keysDifferent).toBe(0);
    expect(paged.bigKeys).toBeGreaterThan(5000);
  });

  it('finds a changed hash field', async () => {
    await tgt.hset('seed:hash:60', 'plan', 'changed');
    expect(only(await compare(), 'value', 'seed:hash:60')).toMatch(/hash field "plan": source "free" .* target "changed"/);
  });

  it('finds an LSET', async () => {
    await tgt.lset('seed:list:70', 2, 'X');
    expect(only(await compare(), 'value', 'seed:list:70')).toMatch(/list element 2/);
  });

  it('finds an appended list element', async () => {
    await tgt.rpush('seed:list:71', 'appended');
    expect(only(await compare(), 'value', 'seed:list:71')).toMatch(/list length 4 on the source, 5 on the target/);
  });

  it('finds an appended stream entry', async () => {
    await tgt.xadd('seed:stream:94', '*', 'late', 'entry');
    expect(only(await compare(), 'value', 'seed:stream:94')).toMatch(/only on the target/);
  });

  it('finds a stream consumer group that differs', async () => {
    await tgt.xgroup('CREATE', 'seed:stream:95', 'extra', '0');
    expect(only(await compare(), 'value', 'seed:stream:95')).toMatch(/consumer group/);
    await resync();
    await tgt.xreadgroup('GROUP', 'workers', 'c1', 'COUNT', 1, 'STREAMS', 'seed:stream:94', '>');
    expect(only(await compare(), 'value', 'seed:stream:94')).toMatch(/last-delivered-id|pending/);
  });

  it('finds a TTL added, removed or changed beyond the tolerance, and not one within it', async () => {
    await tgt.pexpire('seed:str:0', 999_999_000);
    const added = await compare();
    expect(only(added, 'ttl', 'seed:str:0')).toMatch(/no ttl on the source/);
    // The halves ask no expiry of a key persistent on the source: the target's count of keys with one is one
    // more than they saw, so they asked those keys' expiries after all.
    if (how.halves) expect((added as SnapshotCompareResult).expiries).toMatch(/keys with an expiry, .* were seen with one: the expiry of the \d+ keys taken as persistent asked one by one/);
    await resync();
    await tgt.persist('seed:expiring');
    expect(only(await compare(), 'ttl', 'seed:expiring')).toMatch(/none on the target/);
    await resync();
    await tgt.pexpire('seed:expiring', 300_000);
    expect(only(await compare(), 'ttl', 'seed:expiring')).toMatch(/tolerance 2000 ms/);
    await resync();
    const left = await src.pttl('seed:expiring');
    await tgt.pexpire('seed:expiring', left - 500);
    expect((await compare()).keysDifferent).toBe(0);
  });

  it('finds a key only on the target and a key missing there, in any db', async () => {
    await tgt.set('only-on-target', '1');
    expect(only(await compare(), 'only-on-target', 'only-on-target')).toMatch(/on the target only/);
    await resync();
    await tgt.del('seed:str:1');
    expect(only(await compare(), 'missing-on-target', 'seed:str:1')).toBe('missing on the target');
    await resync();
    await tgt.select(3);
    await tgt.del('db3:key');
    await tgt.select(5);
    await tgt.set('db5:key', 'x');
    await tgt.select(0);
    const r = await compare();
    expect(r.keysDifferent).toBe(2);
    expect(r.differences.map((d) => [d.db, d.key, d.kind])).toEqual(expect.arrayContaining([[3, 'db3:key', 'missing-on-target'], [5, 'db5:key', 'only-on-target']]));
  });

  it('finds a type change, a changed score, a set member, a binary value, and differences deep in big values', async () => {
    await tgt.del('seed:set:78');
    await tgt.set('seed:set:78', 'now a string');
    await tgt.zadd('seed:zset:86', 5, 'p86');
    await tgt.sadd('seed:set:79', 'extra');
    const bin = (await src.keys('seed:bin:*'))[0];
    await tgt.setrange(bin, 1, '\u0000');
    await tgtBig.hset('seed:big:hash', 'f19999', 'changed');
    await tgtBig.sadd('seed:big:set', 'extra');
    await tgtBig.zadd('seed:big:zset', 0.5, 'z100');
    await tgtBig.lset('seed:big:list', 15_000, 'y');
    await tgtBig.setrange('seed:big:string', 2_500_000, 'Z');
    await tgtBig.xadd('seed:big:stream', '*', 'n', 'late');
    const r = await compare();
    const kinds = Object.fromEntries(r.differences.map((d) => [d.key, `${d.kind}: ${d.detail}`]));
    expect(r.keysDifferent, JSON.stringify(kinds)).toBe(10);
    expect(kinds['seed:set:78']).toBe('type: set on the source, string on the target');
    expect(kinds['seed:zset:86']).toMatch(/zset member "p86": source "6"/);
    expect(kinds['seed:set:79']).toMatch(/"extra" only on the target/);
    expect(kinds['seed:big:hash']).toMatch(/hash field "f19999"/);
    expect(kinds['seed:big:set']).toMatch(/20000 set members on the source, 20001 on the target \("extra" only on the target\)/);
    expect(kinds['seed:big:zset']).toMatch(/zset member "z100"/);
    expect(kinds['seed:big:list']).toMatch(/list element 15000/);
    expect(kinds['seed:big:string']).toMatch(/string differs from byte 2500000/);
    expect(kinds['seed:big:stream']).toMatch(/only on the target/);
    expect(Object.keys(kinds).filter((k) => k.startsWith('seed:bin:'))).toHaveLength(1);
  });

  it('compares keys whose names mislead the type guess, each counted once', async () => {
    // Named alike, of every type in turn: most guesses by name (values method) are wrong, so these keys take the
    // TYPE-first path; a difference in each kind of key is still found, and nothing is counted twice or skipped.
    const types = ['string', 'hash', 'list', 'set', 'zset', 'stream'] as const;
    const write = (r: Redis, i: number, v: string) => {
      const k = `guess:${i}`;
      switch (types[i % 6]) {
        case 'string': return r.set(k, v);
        case 'hash': return r.hset(k, 'f', v);
        case 'list': return r.rpush(k, v);
        case 'set': return r.sadd(k, v);
        case 'zset': return r.zadd(k, 1, v);
        case 'stream': return r.xadd(k, '*', 'f', v);
      }
    };
    for (let i = 0; i < 600; i++) await write(src, i, `v${i}`);
    try {
      await resync();
      for (let i = 0; i < 6; i++) await write(tgt, 300 + i, 'late'); // one of each type
      await tgt.del('guess:450');
      await tgt.set('guess:451', 'a string now'); // a hash on the source
      const r = await compare({ dbs: [0] });
      const kinds = Object.fromEntries(r.differences.map((d) => [d.key, d.kind]));
      expect(kinds).toEqual({
        'guess:300': 'value', 'guess:301': 'value', 'guess:302': 'value', 'guess:303': 'value', 'guess:304': 'value', 'guess:305': 'value',
        'guess:450': 'missing-on-target', 'guess:451': 'type',
      });
      const db0 = inHalves ? 20_008 : 20_001; // the halves read every db
      expect(r.keysCompared).toBe(db0 + 600);
      expect(r.targetKeysScanned).toBe(db0 + 599);
    } finally {
      await src.del(...Array.from({ length: 600 }, (_, i) => `guess:${i}`));
    }
  });

  it('lists the first N differences and counts them all', async () => {
    await tgt.del(...Array.from({ length: 300 }, (_, i) => `seed:str:${i * 50 + 2}`));
    const r = await compare({ maxDifferences: 10, recheckLimit: 50 });
    expect(r.keysDifferent).toBe(300);
    expect(r.byKind['missing-on-target']).toBe(300);
    expect(r.differences).toHaveLength(10);
    expect(r.rechecked).toBe(50);
  });
});

// What only the two halves do: the target read once it is ready, the fallback beyond their memory bound.
describe('redis compare in two halves (dump mode), its own cases', () => {
  beforeEach(resync);

  it('reads the source first and the target only once it is ready: what the target holds then is compared', async () => {
    let sourceRead = 0;
    let readyAsked = false;
    const r = await halves({
      onProgress: (p) => {
        if (p.phase === 'waiting-for-target') sourceRead = p.sourceKeys;
      },
      progressEveryMs: 0,
      targetReady: async () => {
        readyAsked = true;
        // As a load would: the target changes between the source's reading and its own.
        await tgt.hset('seed:hash:61', 'plan', 'loaded');
        await tgt.del('seed:str:3');
      },
    });
    expect(readyAsked).toBe(true);
    expect(sourceRead).toBe(20_008);
    const kinds = Object.fromEntries(r.differences.map((d) => [d.key, d.kind]));
    expect(kinds).toEqual({ 'seed:hash:61': 'value', 'seed:str:3': 'missing-on-target' });
  });

  it('beyond maxSnapshotKeys keeps no fingerprints: waits for the target, then compares key by key, finding the same', async () => {
    let readyAsked = false;
    const phases = new Set<string>();
    const r = await halves({
      maxSnapshotKeys: 1000,
      onProgress: (p) => phases.add(p.phase),
      progressEveryMs: 0,
      targetReady: async () => {
        readyAsked = true;
        await tgt.hset('seed:hash:61', 'plan', 'loaded');
      },
    });
    expect(readyAsked).toBe(true);
    expect(r.phasesMs.source).toBe(0);
    expect(phases.has('waiting-for-target')).toBe(true);
    expect(r.keysCompared).toBeGreaterThanOrEqual(20_008);
    expect(only(r, 'value', 'seed:hash:61')).toContain('plan');
  });

  it('does not report a key that expires between the two readings', async () => {
    await src.set('soon', 'x', 'PX', 1500);
    await resync();
    const r = await halves({ targetReady: () => new Promise((res) => setTimeout(res, 1600)) });
    expect(r.differences).toEqual([]);
  });
});

// The source read ahead while it is live: its changes are followed (CLIENT TRACKING BCAST) until the target is
// ready and once more when the source is paused; what tracking cannot see (FLUSHDB's null message, SWAPDB, the
// tracking connection lost) reads it again whole; where tracking cannot be turned on, both sides are compared key
// by key once the target is ready. Each test puts the source back exactly as seeded (the tests share it).
describe('redis compare read ahead (dump mode), its own cases', () => {
  /** The source paused for writes, as a move does before the target is ready, lifted after the comparison. */
  const pause = () => src.call('CLIENT', 'PAUSE', 20_000, 'WRITE');
  const unpause = () => src.call('CLIENT', 'UNPAUSE');
  /** Read ahead, the reports recorded; the source paused once `ready` (run when the target is asked for) is done. */
  const readAhead = (o: { onRead?: () => Promise<unknown>; ready?: () => Promise<unknown> } & Partial<SnapshotCompareOptions> = {}) => {
    const { onRead: whenRead, ready, ...rest } = o;
    return halves({
      readAhead: {
        onRead: async (r) => {
          reports.push(r);
          await whenRead?.();
        },
      },
      targetReady: async () => {
        expect(reports, 'onRead before the target is asked for').toHaveLength(1);
        await ready?.();
        await pause();
      },
      ...rest,
    }).finally(unpause);
  };
  /** Remembers source keys (DUMP, PTTL; absent ones too) so that a test's changes can be undone exactly. */
  async function keep(keys: Array<[number, string | Buffer]>): Promise<() => Promise<void>> {
    const saved = await Promise.all(keys.map(async ([db, key]) => ({ db, key, dump: await srcOn(db).dumpBuffer(key), pttl: await srcOn(db).pttl(key) })));
    return async () => {
      await unpause();
      for (const { db, key, dump, pttl } of saved) {
        if (dump === null) await srcOn(db).del(key);
        else await srcOn(db).restore(key, Math.max(pttl, 0), dump, 'REPLACE');
      }
    };
  }
  const kinds = (r: { differences: Array<{ db: number; key: string; kind: DiffKind }> }) => Object.fromEntries(r.differences.map((d) => [`${d.db} ${d.key}`, d.kind]));

  beforeEach(async () => {
    reports = [];
    await resync();
  });
  afterEach(async () => {
    // No tracking client or subscriber left on the source (closed however the comparison ended).
    let left: string[] = [];
    for (let i = 0; i < 20; i++) {
      left = String(await src.call('CLIENT', 'LIST')).split('\n').filter((l) => /flags=\w*B|sub=[1-9]/.test(l));
      if (left.length === 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    expect(left).toEqual([]);
    // The source as seeded, for the next test.
    await unpause();
    expect(String(await src.info('keyspace')).match(/^db\d+:keys=\d+/gm)).toEqual(['db0:keys=20001', 'db2:keys=6', 'db3:keys=1']);
  });

  it('follows the keys the live source changes after its read: a copy made after them compares equal', async () => {
    const restore = await keep([[0, 'seed:str:10'], [0, 'seed:str:11'], [0, 'ra:new'], [4, 'ra:db4'], [0, 'seed:hash:62'], [0, 'seed:str:12'], [0, 'seed:list:72']]);
    const many = Array.from({ length: 1200 }, (_, i) => `ra:many:${i}`); // more than a batch (1000) to read again
    try {
      const r = await readAhead({
        onRead: async () => {
          const s = srcOn(0);
          await s.set('seed:str:10', 'changed while read ahead');
          await s.del('seed:str:11');
          await s.set('ra:new', 'new while read ahead');
          await srcOn(4).set('ra:db4', 'in a db the source had not');
          await s.hset('seed:hash:62', 'plan', 'changed');
          await s.expire('seed:str:12', 600);
          await s.rpush('seed:list:72', 'appended');
          await s.mset(...many.flatMap((k) => [k, `new ${k}`]));
        },
        // As the move would: the target a copy of the source as it is now, the source paused.
        ready: resync,
      });
      expect(reports).toEqual([expect.objectContaining({ ahead: true, keys: 20_008, reread: 0, fullRereads: 0 })]);
      expect(r.differences).toEqual([]);
      expect(r.equal).toBe(true);
      expect(r.readAhead).toMatchObject({ ahead: true, fullRereads: 0 });
      expect(r.readAhead!.reread).toBeGreaterThanOrEqual(1207);
      expect(r.readAhead!.messages).toBeGreaterThanOrEqual(7);
      expect(r.dbs).toContainEqual({ db: 4, sourceKeys: 1, targetKeys: 1 });
      expect(r.keysCompared).toBe(20_009 + 1200); // one deleted, one new in db 0, one in db 4, the many
      expect(r.phasesMs.sourceCatchUp).toBeGreaterThanOrEqual(0);
    } finally {
      await srcOn(0).del(...many);
      await restore();
    }
  });

  it.each([
    { when: 'followed while the target loads', waitMs: 300 },
    { when: 'made just before the pause, caught by the final barrier', waitMs: 0 },
  ])('finds the changes the target lacks, $when', async ({ waitMs }) => {
    const bin = (await srcOn(0).keysBuffer('seed:bin:*'))[0];
    const restore = await keep([
      [0, 'seed:str:20'], [0, 'seed:str:21'], [0, 'ra:added'], [0, 'seed:hash:64'], [0, 'seed:list:73'], [0, bin],
      [0, 'seed:str:22'], [0, 'ra:renamed'], [0, 'seed:str:23'], [4, 'seed:str:23'],
      [3, 'db3:key'], [3, 'ra:db3'], [2, 'seed:big:set'],
    ]);
    try {
      const r = await readAhead({
        // The target loaded what the source held before these changes.
        ready: async () => {
          await resync();
          await srcOn(0).set('seed:str:20', 'changed on the source');
          await srcOn(0).del('seed:str:21');
          await srcOn(0).set('ra:added', 'only on the source');
          await srcOn(3).set('db3:key', 'changed in db 3');
          await srcOn(3).set('ra:db3', 'only on the source, db 3');
          await srcOn(0).del('seed:hash:64');
          await srcOn(0).set('seed:hash:64', 'a string now');
          await srcOn(0).rpush('seed:list:73', ...Array.from({ length: 600 }, (_, i) => `grown ${i}`)); // past a page: big
          await srcOn(0).set(bin, Buffer.from([0x80, 0xff, 1])); // a name that is not UTF-8
          await srcOn(2).del('seed:big:set'); // a big key gone
          await srcOn(0).rename('seed:str:22', 'ra:renamed');
          await srcOn(0).move('seed:str:23', 4); // the same name, another db
          await new Promise((res) => setTimeout(res, waitMs));
        },
      });
      expect(kinds(r)).toEqual({
        '0 seed:str:20': 'value',
        '0 seed:str:21': 'only-on-target',
        '0 ra:added': 'missing-on-target',
        '3 db3:key': 'value',
        '3 ra:db3': 'missing-on-target',
        '0 seed:hash:64': 'type',
        '0 seed:list:73': 'value',
        [`0 ${printable(bin)}`]: 'value',
        '2 seed:big:set': 'only-on-target',
        '0 seed:str:22': 'only-on-target',
        '0 ra:renamed': 'missing-on-target',
        '0 seed:str:23': 'only-on-target',
        '4 seed:str:23': 'missing-on-target',
      });
      expect(r.differences.find((d) => d.kind === 'value' && d.keyBase64)?.keyBase64).toBe(bin.toString('base64'));
      expect(r.keysDifferent).toBe(13);
      expect(r.readAhead).toMatchObject({ ahead: true, fullRereads: 0 });
      expect(r.readAhead!.reread).toBeGreaterThanOrEqual(12);
    } finally {
      await restore();
    }
  });

  it.each([
    { target: 'a copy made after it: equal', copy: true },
    { target: 'the copy before it: its key reported only on the target', copy: false },
  ])('reads the source again whole after a FLUSHDB while read ahead; target $target', async ({ copy }) => {
    const restore = await keep([[3, 'db3:key']]);
    try {
      const r = await readAhead({
        onRead: () => srcOn(3).flushdb(),
        // Long enough for the follow loop to see the flush first, with a copy; at the final catch-up without.
        ready: async () => {
          if (copy) {
            await new Promise((res) => setTimeout(res, 300));
            await resync();
          }
        },
      });
      expect(r.readAhead).toMatchObject({ ahead: true });
      expect(r.readAhead!.fullRereads).toBeGreaterThanOrEqual(1);
      expect(r.readAhead!.note).toMatch(/FLUSHDB/);
      if (copy) {
        expect(r.differences).toEqual([]);
        expect(r.dbs.map((d) => d.db)).toEqual([0, 2]);
        expect(r.keysCompared).toBe(20_007);
      } else {
        expect(kinds(r)).toEqual({ '3 db3:key': 'only-on-target' });
      }
    } finally {
      await restore();
    }
  });

  it.each([
    { target: 'the copy before it: both dbs differ', copy: false },
    { target: 'a copy made after it: equal', copy: true },
  ])('reads the source again whole after a SWAPDB (no invalidation for it); target $target', async ({ copy }) => {
    let swapped = false;
    try {
      const r = await readAhead({
        onRead: async () => {
          await src.swapdb(3, 5); // db3:key now in db 5
          swapped = true;
        },
        ready: async () => {
          if (copy) await resync();
        },
      });
      expect(r.readAhead).toMatchObject({ ahead: true });
      expect(r.readAhead!.note).toMatch(/SWAPDB/);
      expect(r.readAhead!.fullRereads).toBeGreaterThanOrEqual(1);
      if (copy) expect(r.differences).toEqual([]);
      else expect(kinds(r)).toEqual({ '3 db3:key': 'only-on-target', '5 db3:key': 'missing-on-target' });
    } finally {
      await unpause();
      if (swapped) await src.swapdb(3, 5);
    }
  });

  it.each([
    // The connection subscribed to the invalidations, and the one whose tracking sends them (its flags show B).
    { which: 'subscriber', kill: () => src.call('CLIENT', 'KILL', 'TYPE', 'pubsub') },
    {
      which: 'tracking client',
      kill: async () => {
        const id = /^id=(\d+) .*flags=\w*B/m.exec(String(await src.call('CLIENT', 'LIST')))?.[1];
        expect(id, 'a client tracking in broadcast mode').toBeDefined();
        return src.call('CLIENT', 'KILL', 'ID', id!);
      },
    },
  ])('reads the source again whole when its $which connection is killed after the read', async ({ kill }) => {
    const restore = await keep([[0, 'seed:str:30']]);
    try {
      const r = await readAhead({
        onRead: async () => {
          expect(await kill()).toBe(1);
          await srcOn(0).set('seed:str:30', 'changed unseen'); // no one left to hear of it
        },
      });
      expect(r.readAhead!.note).toMatch(/tracking connection .* failed/);
      expect(r.readAhead!.fullRereads).toBeGreaterThanOrEqual(1);
      expect(only(r, 'value', 'seed:str:30')).toMatch(/string of 14 bytes on the source/); // "changed unseen"
    } finally {
      await restore();
    }
  });

  it.each([
    { target: 'the copy before them: they are found', copy: false },
    { target: 'a copy made after them: equal', copy: true },
  ])('follows the changes made while the source is being read; target $target', async ({ copy }) => {
    const restore = await keep([[0, 'seed:str:40'], [0, 'seed:str:41'], [0, 'ra:during']]);
    let writes: Promise<unknown> | null = null;
    let readSoFar = 0;
    try {
      const r = await readAhead({
        progressEveryMs: 0,
        onProgress: (p) => {
          // Once, half way through the source's reading: its pages before and after these keys are being read.
          if (p.phase !== 'source' || p.sourceKeys < 5000 || writes) return;
          readSoFar = p.sourceKeys;
          const s = srcOn(0);
          writes = Promise.all([s.set('seed:str:40', 'changed during the read'), s.del('seed:str:41'), s.set('ra:during', 'added during the read')]);
        },
        ready: async () => {
          await writes;
          if (copy) await resync();
        },
      });
      expect(readSoFar).toBeGreaterThanOrEqual(5000);
      expect(readSoFar).toBeLessThan(20_000);
      expect(r.readAhead).toMatchObject({ ahead: true, fullRereads: 0 });
      if (copy) expect(r.differences).toEqual([]);
      else expect(kinds(r)).toEqual({ '0 seed:str:40': 'value', '0 seed:str:41': 'only-on-target', '0 ra:during': 'missing-on-target' });
    } finally {
      await restore();
    }
  });

  it.each([
    { target: 'a copy made after them: equal', copy: true },
    { target: 'the copy before them: exactly the keys left changed differ', copy: false },
  ])('follows a source written all along, from before its read until the pause; target $target', async ({ copy }) => {
    // 150 seeded strings set or deleted, 50 new names set or deleted, 20 a round trip, without a break.
    const seeded = Array.from({ length: 150 }, (_, i) => 2000 + Math.floor(i / 60) * 100 + (i % 60));
    const keys = [...seeded.map((n) => `seed:str:${n}`), ...Array.from({ length: 50 }, (_, i) => `ra:busy:${i}`)];
    const restore = await keep(keys.map((k) => [0, k]));
    const w = new Redis({ ...source.endpoint, protocol: 2 });
    let stop = false;
    let n = 0;
    const writer = (async () => {
      while (!stop) {
        const p = w.pipeline();
        for (let j = 0; j < 20; j++, n++) {
          const k = keys[(n * 7919) % keys.length];
          if (n % 5 === 4) p.del(k);
          else p.set(k, `busy ${n}`);
        }
        await p.exec();
      }
    })();
    try {
      const r = await readAhead({
        maxDifferences: 1000,
        ready: async () => {
          await new Promise((res) => setTimeout(res, 300));
          stop = true;
          await writer;
          if (copy) await resync();
        },
      });
      expect(n, 'writes all along').toBeGreaterThan(1000);
      expect(r.readAhead).toMatchObject({ ahead: true, fullRereads: 0 });
      expect(r.readAhead!.reread).toBeGreaterThan(200);
      if (copy) expect(r.differences).toEqual([]);
      else {
        // What the source holds now against the seeded values the target kept.
        const now = await w.mget(...keys);
        const expected: Record<string, DiffKind> = {};
        keys.forEach((k, i) => {
          if (i < 150) expected[`0 ${k}`] = now[i] === null ? 'only-on-target' : 'value';
          else if (now[i] !== null) expected[`0 ${k}`] = 'missing-on-target';
        });
        expect(Object.keys(expected).length).toBeGreaterThan(150);
        expect(r.keysDifferent).toBe(Object.keys(expected).length);
        expect(kinds(r)).toEqual(expected);
      }
    } finally {
      stop = true;
      await writer.catch(() => undefined);
      w.disconnect();
      await restore();
    }
  });

  it.each([
    { how: 'is cancelled', error: /cancelled by the test/ },
    { how: 'hears the target failed', error: /the target failed to load/ },
  ])('while following, when the comparison $how, ends with that error and leaves no tracking on the source', async ({ how, error }) => {
    const cancel = new AbortController();
    let follows = 0;
    const started = Date.now();
    await expect(
      halves({
        signal: cancel.signal,
        progressEveryMs: 0,
        onProgress: (p) => {
          if (p.phase === 'waiting-for-target') follows++;
        },
        readAhead: { onRead },
        targetReady: (signal) =>
          new Promise((_, reject) => {
            signal.addEventListener('abort', () => reject(signal.reason as Error));
            if (how === 'is cancelled') setTimeout(() => cancel.abort(new Error('cancelled by the test')), 300);
            else setTimeout(() => reject(new Error('the target failed to load')), 300);
          }),
      }),
    ).rejects.toThrow(error);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(follows, 'followed while waiting').toBeGreaterThan(1);
    expect(reports).toEqual([expect.objectContaining({ ahead: true })]);
  });

  it('reads the source again whole when a CONFIG RESETSTAT could hide a SWAPDB', async () => {
    let swapped = false;
    try {
      const r = await readAhead({
        onRead: async () => {
          await src.swapdb(3, 5);
          swapped = true;
          await src.call('CONFIG', 'RESETSTAT'); // the SWAPDB's count gone
        },
      });
      expect(r.readAhead!.note).toMatch(/statistics .* reset/);
      expect(r.readAhead!.fullRereads).toBeGreaterThanOrEqual(1);
      expect(kinds(r)).toEqual({ '3 db3:key': 'only-on-target', '5 db3:key': 'missing-on-target' });
    } finally {
      await unpause();
      if (swapped) await src.swapdb(3, 5);
    }
  });

  it('stops following beyond maxFollowed changed keys waiting and reads the frozen source again whole', async () => {
    const many = Array.from({ length: 1200 }, (_, i) => `ra:flood:${i}`);
    try {
      const r = await readAhead({
        maxFollowed: 500,
        followEveryMs: 60_000, // nothing read again before the target is ready: the 1200 wait
        onRead: () => srcOn(0).mset(...many.flatMap((k) => [k, 'written faster than followed'])),
        ready: resync,
      });
      expect(r.readAhead!.note).toMatch(/more than 500 changed keys waiting/);
      expect(r.readAhead!.fullRereads).toBe(1);
      expect(r.readAhead!.reread).toBe(0);
      expect(r.differences).toEqual([]);
      expect(r.keysCompared).toBe(20_008 + 1200);
    } finally {
      await unpause();
      await srcOn(0).del(...many);
    }
  });

  it('beyond maxSnapshotKeys says so to onRead and compares key by key once the target is ready', async () => {
    const r = await halves({ maxSnapshotKeys: 1000, readAhead: { onRead }, targetReady: () => tgt.del('seed:str:4').then(() => undefined) });
    expect(reports).toEqual([expect.objectContaining({ ahead: false, keys: 0 })]);
    expect(reports[0].note).toMatch(/20008 keys: more than the 1000/);
    expect(only(r, 'missing-on-target', 'seed:str:4')).toBe('missing on the target');
  });

  it.each([
    { without: 'CLIENT', rules: ['&*', '+@all', '-client'], why: /CLIENT.*NOPERM|NOPERM.*CLIENT/ },
    { without: 'the invalidation channel', rules: ['resetchannels', '+@all'], why: /SUBSCRIBE __redis__:invalidate: NOPERM/ },
    // INFO keyspace only: a SWAPDB or DEBUG could not be counted.
    { without: 'INFO commandstats', rules: ['&*', '+@all', '-info', '+info|keyspace'], why: /INFO commandstats.*NOPERM/ },
  ])('for a user without $without, says why it does not read ahead and compares key by key once the target is ready', async ({ rules, why }) => {
    await src.call('ACL', 'SETUSER', 'ra-limited', 'reset', 'on', '>pw2', '~*', ...rules);
    try {
      let targetAsked = 0;
      const r = await halves({
        source: { ...source.endpoint, username: 'ra-limited', password: 'pw2' },
        readAhead: { onRead },
        targetReady: async () => {
          targetAsked++;
          expect(reports, 'onRead before the target is asked for').toHaveLength(1);
          await tgt.hset('seed:hash:63', 'plan', 'loaded');
        },
      });
      expect(targetAsked).toBe(1);
      expect(reports).toEqual([expect.objectContaining({ ahead: false, reread: 0, fullRereads: 0 })]);
      expect(reports[0].note).toMatch(/^changes cannot be followed: /);
      expect(reports[0].note).toMatch(why);
      expect(reports[0].note).toMatch(/the user needs CLIENT ID and CLIENT TRACKING, SUBSCRIBE on __redis__:invalidate and INFO/); // and what to grant
      expect(r.readAhead).toMatchObject({ ahead: false });
      expect(r.keysCompared).toBeGreaterThanOrEqual(20_008);
      expect(only(r, 'value', 'seed:hash:63')).toContain('plan');
    } finally {
      await src.call('ACL', 'DELUSER', 'ra-limited');
    }
  });
});
