// Integrity comparison of two Redis servers, key by key, in both directions, meant to miss nothing:
//   1. per-db key counts (INFO keyspace) on both sides;
//   2. source → target: SCAN the source; for each batch, PTTL and the value's first page on both sides in one
//      pipeline each, the page read with the command of the type guessed from the key's name (TypeGuess). A page
//      read proves the type (any other type answers WRONGTYPE), a missing key answers PTTL -2, so one round trip
//      per batch decides most keys; keys guessed wrong on the source are asked their TYPE first;
//   3. target → source: SCAN the target and ask the source `EXISTS k1 ... kn` per batch (one command for a
//      thousand keys when nothing is extra), key by key only when the count falls short;
//   4. every key found different is compared once more from scratch before it is reported (a key that expired
//      or was being written in between is not a difference).
// Values are compared semantically, never as DUMP bytes, and never with DEBUG DIGEST, which blocks a serving
// server for seconds. DUMP was measured as a fast path (1M keys x 450 B, replica made by replication): equal
// hashes and sets dump differently (every hashtable-encoded hash, 97% of the sets: REFERENCE.md), and DUMP costs a
// server ~4 µs a key (it LZF-compresses every value, rdbcompression) against ~1 µs for GETRANGE, where the servers'
// CPU is what bounds the comparison. Big values are read in pages (GETRANGE, HSCAN+HMGET, SSCAN+SMISMEMBER,
// ZSCAN+ZMSCORE, LRANGE, XRANGE), never as one reply. TTLs are equal within a tolerance (the two sides are read a
// few milliseconds apart). Streams compare entries (ids and fields), length, last-generated-id, entries-added,
// max-deleted-entry-id and their consumer groups.
// Measured (bench redis-compare, 1M keys x 450 B, servers and worker on one 2-core machine): ~180k keys/s; per key
// the source spends ~3.5 µs (its share of SCAN, PTTL, the page, EXISTS), the target ~3 µs, the worker ~2.8 µs,
// so the two cores, not one process, are the limit.
import { CORE_TYPES, type CoreType, printable, type RedisEndpoint } from './endpoint';
import { digestKeys, type KeyDigest, loadDigestScript } from './digest';
import { parseKeyspace } from './info';
import { type Arg, type Reply, RespConnection, RespError } from './resp';

export type DiffKind = 'type' | 'value' | 'ttl' | 'missing-on-target' | 'only-on-target' | 'uncomparable';

export interface KeyDifference {
  db: number;
  /** Printable form of the key (binary bytes as \xNN). */
  key: string;
  kind: DiffKind;
  /** What differs: `hash field "plan": source "pro" (3 bytes), target "team" (4 bytes)`. */
  detail: string;
  /** The key's bytes, when `key` is not the key itself (binary, or cut short): to look at it again. */
  keyBase64?: string;
}

export interface DbCounts {
  db: number;
  sourceKeys: number;
  targetKeys: number;
}

export interface CompareProgress {
  db: number;
  phase: 'compare' | 'recheck';
  keysCompared: number;
  targetKeysScanned: number;
  keysDifferent: number;
  elapsedMs: number;
  keysPerSec: number;
}

export interface CompareResult {
  equal: boolean;
  dbs: DbCounts[];
  /** Source keys compared with the target (type, value, TTL). */
  keysCompared: number;
  /** Target keys checked for existence on the source. */
  targetKeysScanned: number;
  keysDifferent: number;
  byKind: Record<DiffKind, number>;
  /** The first `maxDifferences`, after the recheck. */
  differences: KeyDifference[];
  /** Keys found different and compared again; how many of those were equal the second time. */
  rechecked: number;
  clearedByRecheck: number;
  /** Keys too big for one page, compared page by page. */
  bigKeys: number;
  /** How values were compared: digests on the servers, or values read by the worker. */
  method: 'digest' | 'values';
  elapsedMs: number;
  keysPerSec: number;
}

export interface CompareOptions {
  source: RedisEndpoint;
  target: RedisEndpoint;
  /** Databases to compare; default: every one that holds keys on either side. */
  dbs?: number[];
  /** Pairs of connections (source, target) comparing batches side by side. Default 4. */
  connections?: number;
  /** Keys per batch (SCAN COUNT and pipeline size). Default 1000. */
  batch?: number;
  /** Elements per page of a big value. Default 512. */
  pageSize?: number;
  /** Bytes per GETRANGE chunk of a big string. Default 1 MiB. */
  stringChunk?: number;
  /** Remaining TTLs that differ by at most this are equal. Default 2000 ms. */
  ttlToleranceMs?: number;
  /** Differences listed in the result (all are counted). Default 100. */
  maxDifferences?: number;
  /** Differences compared again before being reported; beyond this they are reported as found. Default 10,000. */
  recheckLimit?: number;
  /**
   * `values` (default): every value read and compared by the worker. `digest`: each server digests its keys with
   * a read-only script (digest.ts) and only keys whose type, expiry or digest differ are read value by value
   * (falls back to `values` on a server that cannot run the script, before 7.0). Measured here (1M keys of ~500
   * bytes, servers and worker on one 2-core machine): the script costs each server ~8-9 µs of CPU a key (mostly
   * SHA-1 in Lua) against ~3-3.5 µs for answering reads, so `values` is faster where the network is loopback
   * (160-188k keys/s against ~97k for digest, 86-94k frozen); `digest` ships ~60 bytes a key instead of the
   * values (and takes about half the worker's CPU), for servers reached over a slow link.
   */
  method?: 'digest' | 'values';
  /**
   * With `digest`: neither side changes during the comparison (the source's writes paused, the target not serving yet: a
   * dump-mode move). Then each server is read on its own, at its own pace, without pairing batches: every key's
   * digest is summed into buckets by its name, the buckets of both sides compared, and only the keys of buckets
   * that differ compared key by key (both directions). Were something written after all, its bucket differs and
   * its keys are compared as in a live comparison: frozen is about speed, never about what is found.
   */
  frozen?: boolean;
  onProgress?: (p: CompareProgress) => void;
  progressEveryMs?: number;
  signal?: AbortSignal;
}

type Options = Required<Omit<CompareOptions, 'dbs' | 'onProgress' | 'signal' | 'frozen'>> & Pick<CompareOptions, 'dbs' | 'onProgress' | 'signal' | 'frozen'>;

/** The settings every comparison of two servers takes (dump mode's two halves too: compare-snapshot.ts). */
export type SharedCompareOptions = Pick<
  CompareOptions,
  'source' | 'target' | 'connections' | 'batch' | 'pageSize' | 'stringChunk' | 'ttlToleranceMs' | 'maxDifferences' | 'recheckLimit' | 'progressEveryMs' | 'signal'
>;

/** Their defaults. */
export const COMPARE_DEFAULTS = {
  connections: 4,
  batch: 1000,
  pageSize: 512,
  stringChunk: 1 << 20,
  ttlToleranceMs: 2000,
  maxDifferences: 100,
  recheckLimit: 10_000,
  progressEveryMs: 1000,
} satisfies Partial<CompareOptions>;

interface Pair {
  src: RespConnection;
  tgt: RespConnection;
}

/** Outcome of comparing one key: equal, gone from both sides meanwhile, or what differs. */
type Verdict = null | 'vanished' | { kind: DiffKind; detail: string };

const KINDS: DiffKind[] = ['type', 'value', 'ttl', 'missing-on-target', 'only-on-target', 'uncomparable'];

export async function compareRedis(options: CompareOptions): Promise<CompareResult> {
  const o: Options = { ...COMPARE_DEFAULTS, method: 'values', ...options };
  const started = Date.now();
  const run = new Run(o, started);

  const [srcInfo, tgtInfo] = await Promise.all([o.source, o.target].map(async (ep) => {
    const c = await RespConnection.open(ep, 0);
    try {
      return parseKeyspace(String(await c.call('INFO', 'keyspace')));
    } finally {
      c.close();
    }
  }));
  const dbIndexes = o.dbs ?? [...new Set([...srcInfo, ...tgtInfo].map((d) => d.db))].sort((a, b) => a - b);
  const dbs: DbCounts[] = dbIndexes.map((db) => ({
    db,
    sourceKeys: srcInfo.find((d) => d.db === db)?.keys ?? 0,
    targetKeys: tgtInfo.find((d) => d.db === db)?.keys ?? 0,
  }));

  for (const db of dbIndexes) await compareDb(run, db);

  const elapsedMs = Date.now() - started;
  return {
    equal: run.keysDifferent === 0,
    dbs,
    keysCompared: run.keysCompared,
    targetKeysScanned: run.targetKeysScanned,
    keysDifferent: run.keysDifferent,
    byKind: run.byKind,
    differences: run.differences,
    rechecked: run.rechecked,
    clearedByRecheck: run.cleared,
    bigKeys: run.bigKeys,
    method: run.method,
    elapsedMs,
    keysPerSec: Math.round((run.keysCompared / Math.max(elapsedMs, 1)) * 1000),
  };
}

/** A difference's key as bytes. */
export function keyBytes(d: Pick<KeyDifference, 'key' | 'keyBase64'>): Buffer {
  return d.keyBase64 !== undefined ? Buffer.from(d.keyBase64, 'base64') : Buffer.from(d.key, 'utf8');
}

/**
 * Only the given keys, each from scratch (type, TTL, the value page by page): the keys a live comparison found
 * different, looked at again once writes are paused and the replica has caught up.
 */
export async function compareKeys(options: Omit<CompareOptions, 'dbs'> & { keys: Array<{ db: number; key: Buffer }> }): Promise<CompareResult> {
  const o: Options = { ...COMPARE_DEFAULTS, connections: 1, recheckLimit: 0, method: 'values', ...options };
  const started = Date.now();
  const run = new Run(o, started);
  const dbs = [...new Set(options.keys.map((k) => k.db))].sort((a, b) => a - b);
  for (const db of dbs) {
    run.db = db;
    const pair = { src: await RespConnection.open(o.source, db), tgt: await RespConnection.open(o.target, db) };
    try {
      for (const { key } of options.keys.filter((k) => k.db === db)) {
        run.checkAborted();
        run.keysCompared++;
        const v = await compareKey(run, pair, key);
        if (v && v !== 'vanished') run.found(key, v, false);
        run.tick();
      }
    } finally {
      pair.src.close();
      pair.tgt.close();
    }
  }
  const elapsedMs = Date.now() - started;
  return {
    equal: run.keysDifferent === 0,
    dbs: [],
    keysCompared: run.keysCompared,
    targetKeysScanned: 0,
    keysDifferent: run.keysDifferent,
    byKind: run.byKind,
    differences: run.differences,
    rechecked: 0,
    clearedByRecheck: 0,
    bigKeys: run.bigKeys,
    method: 'values',
    elapsedMs,
    keysPerSec: Math.round((run.keysCompared / Math.max(elapsedMs, 1)) * 1000),
  };
}

/** Counters and differences of one comparison, over all dbs. */
class Run {
  db = 0;
  phase: CompareProgress['phase'] = 'compare';
  keysCompared = 0;
  targetKeysScanned = 0;
  keysDifferent = 0;
  bigKeys = 0;
  /** Set per comparison: `values` as soon as one server cannot run the digest script. */
  method: 'digest' | 'values';
  rechecked = 0;
  cleared = 0;
  byKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<DiffKind, number>;
  differences: KeyDifference[] = [];
  /** Types guessed from key names (compareBatch). */
  readonly typeGuess = new TypeGuess();
  /** Differences of the current db waiting for their second look. */
  suspects: Array<{ key: Buffer; kind: DiffKind }> = [];
  private lastProgress = 0;

  constructor(
    readonly o: Options,
    private readonly started: number,
  ) {
    this.method = o.method;
  }

  found(key: Buffer, v: { kind: DiffKind; detail: string }, recheck = true): void {
    this.keysDifferent++;
    this.byKind[v.kind]++;
    if (recheck && this.suspects.length < this.o.recheckLimit) this.suspects.push({ key, kind: v.kind });
    else this.list(key, v);
  }

  list(key: Buffer, v: { kind: DiffKind; detail: string }): void {
    if (this.differences.length >= this.o.maxDifferences) return;
    const shown = printable(key);
    this.differences.push({ db: this.db, key: shown, ...v, ...(Buffer.from(shown, 'utf8').equals(key) ? {} : { keyBase64: key.toString('base64') }) });
  }

  /** A suspect compared equal (or gone) the second time. */
  clear(kind: DiffKind): void {
    this.keysDifferent--;
    this.byKind[kind]--;
    this.cleared++;
  }

  checkAborted(): void {
    if (this.o.signal?.aborted) throw this.o.signal.reason instanceof Error ? this.o.signal.reason : new Error('comparison cancelled');
  }

  tick(force = false): void {
    const now = Date.now();
    if (!this.o.onProgress || (!force && now - this.lastProgress < this.o.progressEveryMs)) return;
    this.lastProgress = now;
    const elapsedMs = now - this.started;
    this.o.onProgress({
      db: this.db,
      phase: this.phase,
      keysCompared: this.keysCompared,
      targetKeysScanned: this.targetKeysScanned,
      keysDifferent: this.keysDifferent,
      elapsedMs,
      keysPerSec: Math.round((this.keysCompared / Math.max(elapsedMs, 1)) * 1000),
    });
  }
}

/** A few connection pairs handed out to batches; a batch holds one pair while it compares. */
class PairPool {
  private readonly waiting: Array<(p: Pair) => void> = [];
  constructor(private readonly free: Pair[]) {}

  acquire(): Promise<Pair> {
    const p = this.free.pop();
    return p ? Promise.resolve(p) : new Promise((resolve) => this.waiting.push(resolve));
  }

  release(p: Pair): void {
    const w = this.waiting.shift();
    if (w) w(p);
    else this.free.push(p);
  }
}

/** Runs tasks on the pool's pairs; the first failure stops the producers and is thrown by `drain`. */
class Tasks {
  private readonly running = new Set<Promise<void>>();
  failure: Error | null = null;
  constructor(private readonly pool: PairPool) {}

  async spawn(fn: (p: Pair) => Promise<void>): Promise<void> {
    if (this.failure) throw this.failure;
    const pair = await this.pool.acquire();
    const t: Promise<void> = fn(pair)
      .catch((err: Error) => {
        this.failure ??= err;
      })
      .finally(() => {
        this.pool.release(pair);
        this.running.delete(t);
      });
    this.running.add(t);
  }

  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all([...this.running]);
    if (this.failure) throw this.failure;
  }
}

async function compareDb(run: Run, db: number): Promise<void> {
  const { o } = run;
  run.db = db;
  run.phase = 'compare';
  run.suspects = [];
  const open = (ep: RedisEndpoint) => RespConnection.open(ep, db);
  const conns: RespConnection[] = [];
  const track = async (c: Promise<RespConnection>) => {
    const conn = await c;
    conns.push(conn);
    return conn;
  };
  try {
    const scanSrc = await track(open(o.source));
    const scanTgt = await track(open(o.target));
    if (run.method === 'digest' && !(await loadDigestScript(scanSrc) && (await loadDigestScript(scanTgt)))) run.method = 'values';
    const pairs: Pair[] = [];
    for (let i = 0; i < Math.max(1, o.connections); i++) pairs.push({ src: await track(open(o.source)), tgt: await track(open(o.target)) });
    const tasks = new Tasks(new PairPool(pairs));
    if (run.method === 'digest' && o.frozen) {
      await compareFrozen(run, scanSrc, scanTgt, tasks);
    } else {
      const producers = [sourceToTarget(run, scanSrc, tasks), targetToSource(run, scanTgt, tasks)];
      const results = await Promise.allSettled(producers);
      await tasks.drain();
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    }
    await recheck(run, tasks);
    run.tick(true);
  } finally {
    for (const c of conns) c.close();
  }
}

/**
 * Scans with the next SCAN already on its way while the current keys wait for a free pair, so the scan is
 * never the pipeline's bubble; hands out batches of about `batch` keys.
 */
async function scanInBatches(run: Run, conn: RespConnection, args: Arg[], onBatch: (keys: Buffer[]) => Promise<void>): Promise<void> {
  const scan = (cursor: string) => conn.call('SCAN', cursor, 'COUNT', run.o.batch, ...args) as Promise<[Buffer, Buffer[]]>;
  let pending: Promise<[Buffer, Buffer[]]> | null = scan('0');
  let keys: Buffer[] = [];
  while (pending) {
    run.checkAborted();
    const [next, found]: [Buffer, Buffer[]] = await pending;
    const cursor: string = next.toString();
    pending = cursor === '0' ? null : scan(cursor);
    pending?.catch(() => undefined); // awaited on the next turn; a failure surfaces there
    for (const k of found) keys.push(k);
    if (keys.length >= run.o.batch || (!pending && keys.length > 0)) {
      const batch = keys;
      keys = [];
      await onBatch(batch);
    }
  }
}

/**
 * The source, in one SCAN without a TYPE filter: a typed SCAN looks every key up again for each of the six
 * types (measured: 2.2 ms of server time per SCAN COUNT 1000 call, six passes), where one TYPE per key in the
 * batch's pipeline costs about half a microsecond.
 */
async function sourceToTarget(run: Run, scan: RespConnection, tasks: Tasks): Promise<void> {
  await scanInBatches(run, scan, [], (batch) => tasks.spawn((p) => (run.method === 'digest' ? compareDigests(run, p, batch) : compareBatch(run, p, batch))));
}

/** SCAN the target; keys the source lacks are only on the target. */
async function targetToSource(run: Run, scan: RespConnection, tasks: Tasks): Promise<void> {
  await scanInBatches(run, scan, [], (found) => tasks.spawn((p) => checkOnSource(run, p, found)));
}

async function checkOnSource(run: Run, pair: Pair, found: Buffer[]): Promise<void> {
  // EXISTS counts a key named twice twice: a batch SCAN returned a key twice in still adds up when all exist.
  const [count] = await pair.src.exec([['EXISTS', ...found]]);
  run.targetKeysScanned += found.length;
  if (count === found.length) return;
  const unique = [...new Map(found.map((k) => [k.toString('latin1'), k])).values()];
  const [exists, ttls] = await Promise.all([pair.src.exec(unique.map((k) => ['EXISTS', k])), pair.tgt.exec(unique.map((k) => ['PTTL', k]))]);
  unique.forEach((k, i) => {
    if (exists[i] !== 0) return;
    const v = onlyOnTarget(run.o, ttls[i] as number);
    if (v && v !== 'vanished') run.found(k, v);
  });
  run.tick();
}

function onlyOnTarget(o: Options, tgtTtl: number): Verdict {
  if (tgtTtl === -2) return 'vanished';
  // Expiring within the tolerance: it expired on the source a moment earlier.
  if (tgtTtl >= 0 && tgtTtl <= o.ttlToleranceMs) return null;
  return { kind: 'only-on-target', detail: tgtTtl >= 0 ? `on the target only (ttl ${tgtTtl} ms)` : 'on the target only' };
}

function missingOnTarget(o: Options, srcTtl: number): Verdict {
  if (srcTtl >= 0 && srcTtl <= o.ttlToleranceMs) return null;
  return { kind: 'missing-on-target', detail: srcTtl >= 0 ? `missing on the target (source ttl ${srcTtl} ms)` : 'missing on the target' };
}

function ttlVerdict(o: Options, s: number, t: number): Verdict {
  if (s === t) return null;
  if (s === -1 || t === -1) {
    return { kind: 'ttl', detail: s === -1 ? `no ttl on the source, ${t} ms on the target` : `ttl ${s} ms on the source, none on the target` };
  }
  if (Math.abs(s - t) <= o.ttlToleranceMs) return null;
  return { kind: 'ttl', detail: `ttl ${s} ms on the source, ${t} ms on the target (tolerance ${o.ttlToleranceMs} ms)` };
}

/** How much of a value one read takes: bytes of a string, elements of anything else. */
export type PageSizes = Pick<Options, 'stringChunk' | 'pageSize'>;

/** The command that reads a value's first page; the page is complete when `isWhole` says so. */
export function firstPage(o: PageSizes, type: CoreType, k: Buffer): Arg[] {
  switch (type) {
    case 'string':
      return ['GETRANGE', k, 0, o.stringChunk - 1];
    case 'hash':
      return ['HSCAN', k, 0, 'COUNT', o.pageSize];
    case 'set':
      return ['SSCAN', k, 0, 'COUNT', o.pageSize];
    case 'zset':
      return ['ZSCAN', k, 0, 'COUNT', o.pageSize];
    case 'list':
      return ['LRANGE', k, 0, o.pageSize - 1];
    case 'stream':
      return ['XRANGE', k, '-', '+', 'COUNT', o.pageSize];
  }
}

export function isWhole(o: PageSizes, type: CoreType, page: Reply): boolean {
  if (!page || page instanceof RespError) return false;
  switch (type) {
    case 'string':
      return (page as Buffer).length < o.stringChunk;
    case 'hash':
    case 'set':
    case 'zset':
      return String((page as Reply[])[0]) === '0';
    case 'list':
    case 'stream':
      return (page as Reply[]).length < o.pageSize;
  }
}

/** Buckets of the frozen comparison (by a hash of the key's name): the unit a difference is looked for in. */
const BUCKETS = 4096;

/** FNV-1a of the key's bytes: cheap, and the same on both sides. */
function bucketOf(k: Buffer): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < k.length; i++) h = Math.imul(h ^ k[i], 0x01000193);
  return (h >>> 0) % BUCKETS;
}

/** One server's keys summed by bucket: counts, the sum of their 160-bit digests (five words mod 2^32). */
interface Tally {
  keys: number;
  count: Uint32Array;
  sum: Uint32Array;
  /** Keys the script did not digest, compared one by one: over its limits, or of a module's type. */
  big: Buffer[];
  other: Buffer[];
}

/**
 * Every key of one side, digested in bounded script calls with the next SCAN and the next batch already on
 * their way (a server works on one command at a time: one connection keeps it busy).
 */
async function tally(run: Run, conn: RespConnection, side: 'source' | 'target'): Promise<Tally> {
  const { o } = run;
  const t: Tally = { keys: 0, count: new Uint32Array(BUCKETS), sum: new Uint32Array(BUCKETS * 5), big: [], other: [] };
  const limits = { maxElements: o.pageSize, maxBytes: o.stringChunk, budget: 64 * o.pageSize };
  const inFlight: Array<Promise<void>> = [];
  const before = side === 'source' ? run.keysCompared : run.targetKeysScanned; // the dbs compared already
  const add = (keys: Buffer[], digests: KeyDigest[]) => {
    for (let i = 0; i < keys.length; i++) {
      const d = digests[i];
      if (d.type === 'none') continue;
      t.keys++;
      if (d.digest.length !== 40) {
        (d.digest === 'big' ? t.big : t.other).push(keys[i]);
        continue;
      }
      const b = bucketOf(keys[i]);
      t.count[b]++;
      for (let w = 0; w < 5; w++) t.sum[b * 5 + w] += parseInt(d.digest.slice(w * 8, w * 8 + 8), 16);
    }
    if (side === 'source') run.keysCompared = before + t.keys;
    else run.targetKeysScanned = before + t.keys;
    run.tick();
  };
  await scanInBatches(run, conn, [], async (keys) => {
    const p = digestKeys(conn, keys, limits).then((d) => add(keys, d));
    p.catch(() => undefined); // awaited below
    inFlight.push(p);
    if (inFlight.length >= 2) await inFlight.shift();
  });
  await Promise.all(inFlight);
  return t;
}

/** The keys of one side whose bucket is in `buckets`. */
async function keysIn(run: Run, conn: RespConnection, buckets: Set<number>, into: Map<string, Buffer>): Promise<void> {
  await scanInBatches(run, conn, [], async (keys) => {
    for (const k of keys) if (buckets.has(bucketOf(k))) into.set(k.toString('latin1'), k);
  });
}

/**
 * Frozen mode (see CompareOptions.frozen): both sides tallied at once, each at its own pace; then the keys too big
 * for the script, and every key of a bucket that differs, compared key by key.
 */
async function compareFrozen(run: Run, scanSrc: RespConnection, scanTgt: RespConnection, tasks: Tasks): Promise<void> {
  const [s, t] = await Promise.all([tally(run, scanSrc, 'source'), tally(run, scanTgt, 'target')]);
  const differing = new Set<number>();
  for (let b = 0; b < BUCKETS; b++) {
    if (s.count[b] !== t.count[b]) differing.add(b);
    else for (let w = 0; w < 5; w++) if (s.sum[b * 5 + w] !== t.sum[b * 5 + w]) differing.add(b);
  }
  const big = new Map<string, Buffer>();
  for (const k of [...s.big, ...t.big]) big.set(k.toString('latin1'), k);
  run.bigKeys += big.size;
  const special = new Map(big);
  for (const k of [...s.other, ...t.other]) special.set(k.toString('latin1'), k);
  const listed = new Map<string, Buffer>();
  if (differing.size > 0) await Promise.all([keysIn(run, scanSrc, differing, listed), keysIn(run, scanTgt, differing, listed)]);
  for (const k of special.keys()) listed.delete(k);
  const spawnAll = async (keys: Buffer[], fn: (p: Pair, batch: Buffer[]) => Promise<void>) => {
    for (let i = 0; i < keys.length; i += run.o.batch) {
      const batch = keys.slice(i, i + run.o.batch);
      await tasks.spawn((p) => fn(p, batch));
    }
  };
  await spawnAll([...special.values()], async (pair, batch) => {
    for (const k of batch) {
      const v = await compareKey(run, pair, k);
      if (v && v !== 'vanished') run.found(k, v, v.kind !== 'uncomparable');
    }
  });
  await spawnAll([...listed.values()], (pair, batch) => compareListed(run, pair, batch));
  await tasks.drain();
}

/**
 * Keys from either side, digested by both; those that disagree compared from scratch. Counts nothing as
 * compared (the tallies did), only what differs.
 */
async function compareListed(run: Run, pair: Pair, keys: Buffer[]): Promise<void> {
  const { o } = run;
  const limits = { maxElements: o.pageSize, maxBytes: o.stringChunk, budget: 64 * o.pageSize };
  const [s, t] = await Promise.all([digestKeys(pair.src, keys, limits), digestKeys(pair.tgt, keys, limits)]);
  for (let i = 0; i < keys.length; i++) {
    if (s[i].type === 'none' && t[i].type === 'none') continue;
    if (s[i].digest === t[i].digest && s[i].digest.length === 40) continue;
    const v = await compareKey(run, pair, keys[i]);
    if (v && v !== 'vanished') run.found(keys[i], v);
  }
  run.tick();
}

/**
 * One batch of source keys, digested by both servers side by side (digest.ts): a key whose type, expiry (within
 * the tolerance) and digest agree is equal without its value leaving either server. Any other key, and any key
 * too big for the script, is compared from scratch value by value (compareKey), which also says what differs.
 */
async function compareDigests(run: Run, pair: Pair, keys: Buffer[]): Promise<void> {
  const { o } = run;
  const limits = { maxElements: o.pageSize, maxBytes: o.stringChunk, budget: 64 * o.pageSize };
  const [s, t] = await Promise.all([digestKeys(pair.src, keys, limits), digestKeys(pair.tgt, keys, limits)]);
  const again: Buffer[] = [];
  for (let i = 0; i < keys.length; i++) {
    const a = s[i];
    const b = t[i];
    if (a.type === 'none') continue; // gone from the source since the scan (expired, deleted)
    run.keysCompared++;
    if (!(CORE_TYPES as readonly string[]).includes(a.type)) {
      // Keys of a module's type are reported as not comparable, never silently skipped.
      run.found(keys[i], { kind: 'uncomparable', detail: `type ${a.type} (a module's) is not compared` }, false);
      continue;
    }
    const big = a.digest === 'big' || b.digest === 'big';
    if (big) run.bigKeys++;
    const sameExpiry = a.expireAt === b.expireAt || (a.expireAt >= 0 && b.expireAt >= 0 && Math.abs(a.expireAt - b.expireAt) <= o.ttlToleranceMs);
    if (!big && a.type === b.type && a.digest === b.digest && sameExpiry) continue;
    again.push(keys[i]);
  }
  for (const k of again) {
    const v = await compareKey(run, pair, k);
    if (v && v !== 'vanished') run.found(k, v);
  }
  run.tick();
}

/**
 * Types of keys guessed from their names: keys named alike (`user:17:cart`, `user:18:cart`) are of one type in
 * practically every keyspace. Each key's name with its runs of digits left out is hashed (FNV-1a) to the type last
 * seen under it; a name never seen gets the type seen most often. A guess is only ever a choice of which command
 * to send: the command that reads a value's first page answers WRONGTYPE for any other type, so a page read proves
 * the type, and a wrong guess costs that key one more round trip (compareTyped), never a wrong verdict.
 */
export class TypeGuess {
  private readonly byShape = new Map<number, CoreType>();
  private readonly counts = new Map<CoreType, number>();
  private common: CoreType = 'string';
  private commonCount = 0;

  static shape(k: Buffer): number {
    let h = 0x811c9dc5;
    let digits = false;
    for (let i = 0; i < k.length; i++) {
      const c = k[i];
      if (c >= 48 && c <= 57) {
        digits = true;
        continue;
      }
      if (digits) {
        h = Math.imul(h ^ 35, 0x01000193); // '#' where the digits were
        digits = false;
      }
      h = Math.imul(h ^ c, 0x01000193);
    }
    return digits ? Math.imul(h ^ 35, 0x01000193) : h;
  }

  guess(k: Buffer): CoreType {
    return this.byShape.get(TypeGuess.shape(k)) ?? this.common;
  }

  learn(k: Buffer, type: CoreType): void {
    this.byShape.set(TypeGuess.shape(k), type);
    const n = (this.counts.get(type) ?? 0) + 1;
    this.counts.set(type, n);
    if (n > this.commonCount) {
      this.common = type;
      this.commonCount = n;
    }
  }
}

/**
 * One batch of source keys in one round trip: PTTL and the first page of each key's guessed type (TypeGuess),
 * on both sides, one pipeline each. A page read that succeeds on the source proves the key is of that type there;
 * a key missing on the target answers PTTL -2, a key of another type there WRONGTYPE. Keys whose guess was wrong
 * on the source are compared by compareTyped (TYPE first).
 */
async function compareBatch(run: Run, pair: Pair, keys: Buffer[]): Promise<void> {
  const { o } = run;
  const guess = run.typeGuess;
  const cmds: Arg[][] = [];
  const types: CoreType[] = [];
  const at: number[] = []; // index of each key's PTTL in the replies
  for (const k of keys) {
    const type = guess.guess(k);
    types.push(type);
    at.push(cmds.length);
    cmds.push(['PTTL', k], firstPage(o, type, k));
    if (type === 'stream') cmds.push(['XINFO', 'STREAM', k], ['XINFO', 'GROUPS', k]);
  }
  const [s, t] = await Promise.all([pair.src.exec(cmds), pair.tgt.exec(cmds)]);
  const big: Buffer[] = [];
  const wrong: Buffer[] = [];
  for (let i = 0; i < keys.length; i++) {
    const j = at[i];
    const type = types[i];
    if (s[j] === -2) continue; // gone from the source since the scan (expired, deleted)
    if (s[j + 1] instanceof RespError) {
      wrong.push(keys[i]); // another type on the source (or the page could not be read): TYPE first
      continue;
    }
    judge(run, keys[i], type, s, t, j, big);
  }
  if (wrong.length > 0) await compareTyped(run, pair, wrong, big);
  await compareBig(run, pair, big);
  run.tick();
}

/** Keys that need more than one page (or whose type differs), each from scratch. */
async function compareBig(run: Run, pair: Pair, big: Buffer[]): Promise<void> {
  for (const k of big) {
    run.bigKeys++;
    const v = await compareKey(run, pair, k);
    if (v && v !== 'vanished') run.found(k, v);
  }
}

/**
 * Keys of an unguessed type: their types from the source first (TYPE, taught to the guess), then PTTL and the
 * first page on both sides, one pipeline each. Keys that need more than a page are added to `big`.
 */
async function compareTyped(run: Run, pair: Pair, keys: Buffer[], big: Buffer[]): Promise<void> {
  const { o } = run;
  const types = await pair.src.exec(keys.map((k) => ['TYPE', k]));
  const cmds: Arg[][] = [];
  const at: number[] = []; // index of each key's PTTL in the replies, -1 when not read
  keys.forEach((k, i) => {
    const type = String(types[i]);
    if (!(CORE_TYPES as readonly string[]).includes(type)) {
      at.push(-1);
      if (type === 'none') return; // gone from the source since the scan (expired, deleted)
      run.keysCompared++;
      // Keys of a module's type are reported as not comparable, never silently skipped.
      run.found(k, { kind: 'uncomparable', detail: `type ${type} (a module's) is not compared` }, false);
      return;
    }
    run.typeGuess.learn(k, type as CoreType);
    at.push(cmds.length);
    cmds.push(['PTTL', k], firstPage(o, type as CoreType, k));
    if (type === 'stream') cmds.push(['XINFO', 'STREAM', k], ['XINFO', 'GROUPS', k]);
  });
  const [s, t] = await Promise.all([pair.src.exec(cmds), pair.tgt.exec(cmds)]);
  for (let i = 0; i < keys.length; i++) {
    const j = at[i];
    if (j < 0) continue;
    if (s[j] === -2) continue; // gone from the source between TYPE and PTTL
    judge(run, keys[i], String(types[i]) as CoreType, s, t, j, big);
  }
}

/**
 * One key of `type` on the source, from the replies of both sides (`j`: its PTTL, then its first page, then for a
 * stream XINFO STREAM and XINFO GROUPS): counted as compared, and any difference found. A key of another type on
 * the target (WRONGTYPE), a page that is not the whole value or stream metadata that could not be read is added to
 * `big`: compareKey sorts it out.
 */
function judge(run: Run, k: Buffer, type: CoreType, s: Reply[], t: Reply[], j: number, big: Buffer[]): void {
  const { o } = run;
  const sTtl = s[j] as number;
  const tTtl = t[j] as number;
  run.keysCompared++;
  if (tTtl === -2) {
    const v = missingOnTarget(o, sTtl);
    if (v && v !== 'vanished') run.found(k, v);
    return;
  }
  const sPage = s[j + 1];
  const tPage = t[j + 1];
  if (!isWhole(o, type, sPage) || !isWhole(o, type, tPage) || (type === 'stream' && [s[j + 2], s[j + 3], t[j + 2], t[j + 3]].some((r) => r instanceof RespError))) {
    big.push(k);
    return;
  }
  let detail = comparePages(type, sPage, tPage);
  if (!detail && type === 'stream') detail = compareStreamMeta(s[j + 2], t[j + 2], s[j + 3], t[j + 3]);
  const v: Verdict = detail ? { kind: 'value', detail } : ttlVerdict(o, sTtl, tTtl);
  if (v && v !== 'vanished') run.found(k, v);
}

/** Compare whole first pages (the value fits in one): the detail of the first difference, or null. */
function comparePages(type: CoreType, s: Reply, t: Reply): string | null {
  // Hashes, sets and zsets in the same order on both sides (listpack and intset encodings keep insertion or score
  // order, and a replica loads them as they were): equal without building maps.
  if (type === 'hash' || type === 'set' || type === 'zset') {
    const sa = (s as Reply[])[1] as Buffer[];
    const ta = (t as Reply[])[1] as Buffer[];
    if (sa.length === ta.length && sa.every((b, i) => b.equals(ta[i]))) return null;
  }
  switch (type) {
    case 'string':
      return bytesDiffer(s as Buffer, t as Buffer, 0);
    case 'hash':
      return pairsDiffer('hash field', flatPairs((s as Reply[])[1] as Buffer[]), flatPairs((t as Reply[])[1] as Buffer[]), bytesEqual);
    case 'zset':
      return pairsDiffer('zset member', flatPairs((s as Reply[])[1] as Buffer[]), flatPairs((t as Reply[])[1] as Buffer[]), scoresEqual);
    case 'set': {
      const sm = new Set(((s as Reply[])[1] as Buffer[]).map((b) => b.toString('latin1')));
      const tm = new Set(((t as Reply[])[1] as Buffer[]).map((b) => b.toString('latin1')));
      for (const m of sm) if (!tm.has(m)) return `set member "${printable(Buffer.from(m, 'latin1'))}" missing on the target`;
      for (const m of tm) if (!sm.has(m)) return `set member "${printable(Buffer.from(m, 'latin1'))}" only on the target`;
      return null;
    }
    case 'list':
      return listPagesDiffer(s as Buffer[], t as Buffer[], 0, true);
    case 'stream':
      return streamPagesDiffer(s as Reply[], t as Reply[], true);
  }
}

function flatPairs(flat: Buffer[]): Map<string, Buffer> {
  const m = new Map<string, Buffer>();
  for (let i = 0; i + 1 < flat.length; i += 2) m.set(flat[i].toString('latin1'), flat[i + 1]);
  return m;
}

const bytesEqual = (a: Buffer, b: Buffer) => a.equals(b);

/** Redis prints a score as %.17g, "inf" or "-inf"; listpack and skiplist encodings may print one differently. */
export function score(b: Buffer): number {
  const s = b.toString('latin1');
  return s === 'inf' || s === '+inf' ? Infinity : s === '-inf' ? -Infinity : Number(s);
}
const scoresEqual = (a: Buffer, b: Buffer) => score(a) === score(b);

function describe(b: Buffer): string {
  return `"${printable(b, 60)}" (${b.length} bytes)`;
}

function pairsDiffer(what: string, s: Map<string, Buffer>, t: Map<string, Buffer>, eq: (a: Buffer, b: Buffer) => boolean): string | null {
  for (const [f, v] of s) {
    const tv = t.get(f);
    if (tv !== undefined && eq(v, tv)) continue;
    const name = printable(Buffer.from(f, 'latin1'));
    if (tv === undefined) return `${what} "${name}" missing on the target`;
    return `${what} "${name}": source ${describe(v)}, target ${describe(tv)}`;
  }
  for (const f of t.keys()) if (!s.has(f)) return `${what} "${printable(Buffer.from(f, 'latin1'))}" only on the target`;
  return null;
}

function bytesDiffer(s: Buffer, t: Buffer, offset: number): string | null {
  if (s.equals(t)) return null;
  let i = 0;
  while (i < s.length && i < t.length && s[i] === t[i]) i++;
  return offset === 0 && s.length !== t.length
    ? `string differs from byte ${i} (${s.length} bytes on the source, ${t.length} on the target)`
    : `string differs from byte ${offset + i}`;
}

function listPagesDiffer(s: Buffer[], t: Buffer[], from: number, whole: boolean): string | null {
  const n = Math.min(s.length, t.length);
  for (let i = 0; i < n; i++) {
    if (!s[i].equals(t[i])) return `list element ${from + i}: source ${describe(s[i])}, target ${describe(t[i])}`;
  }
  if (whole && s.length !== t.length) return `list length ${from + s.length} on the source, ${from + t.length} on the target`;
  return null;
}

/** XRANGE pages: [[id, [f, v, ...]], ...]. */
function streamPagesDiffer(s: Reply[], t: Reply[], whole: boolean): string | null {
  const n = Math.min(s.length, t.length);
  for (let i = 0; i < n; i++) {
    const [sid, sf] = s[i] as [Buffer, Buffer[]];
    const [tid, tf] = t[i] as [Buffer, Buffer[]];
    if (!sid.equals(tid)) return `stream entry ${sid.toString()} on the source where the target has ${tid.toString()}`;
    if (sf.length !== tf.length || sf.some((b, j) => !b.equals(tf[j]))) return `stream entry ${sid.toString()}: fields differ`;
  }
  if (whole && s.length !== t.length) {
    const extra = (s.length > t.length ? s : t)[n] as [Buffer, Buffer[]];
    return `stream entry ${extra[0].toString()} only on the ${s.length > t.length ? 'source' : 'target'}`;
  }
  return null;
}

/** What of XINFO STREAM and of each group in XINFO GROUPS a comparison looks at (the halves' fingerprints too). */
export const STREAM_FIELDS = ['length', 'last-generated-id', 'max-deleted-entry-id', 'entries-added'];
export const GROUP_FIELDS = ['name', 'consumers', 'pending', 'last-delivered-id', 'entries-read'];

/** A flat XINFO reply as field → text (nested values as "[...]"). */
export function flatRecord(r: Reply): Map<string, string> {
  const m = new Map<string, string>();
  const a = r as Reply[];
  for (let i = 0; i + 1 < a.length; i += 2) m.set(String(a[i]), Array.isArray(a[i + 1]) ? '[...]' : String(a[i + 1]));
  return m;
}

/** XINFO STREAM and XINFO GROUPS of both sides: ids, counters and consumer groups. */
function compareStreamMeta(sInfo: Reply, tInfo: Reply, sGroups: Reply, tGroups: Reply): string | null {
  const si = flatRecord(sInfo);
  const ti = flatRecord(tInfo);
  for (const f of STREAM_FIELDS) if (si.get(f) !== ti.get(f)) return `stream ${f} ${si.get(f)} on the source, ${ti.get(f)} on the target`;
  const groups = (g: Reply) => (g as Reply[]).map((x) => { const m = flatRecord(x); return GROUP_FIELDS.map((f) => `${f}=${m.get(f)}`).join(' '); }).sort();
  const sg = groups(sGroups);
  const tg = groups(tGroups);
  for (let i = 0; i < Math.max(sg.length, tg.length); i++) {
    if (sg[i] !== tg[i]) return `stream consumer group: source [${sg[i] ?? 'none'}], target [${tg[i] ?? 'none'}]`;
  }
  return null;
}

/**
 * One key from scratch, page by page: type and TTL on both sides, then the value in pages. Used for values
 * bigger than a page, for keys whose type differs, and for the second look at every difference.
 */
async function compareKey(run: Run, pair: Pair, k: Buffer): Promise<Verdict> {
  const { o } = run;
  const [[sType, sTtl], [tType, tTtl]] = await Promise.all([pair.src.exec([['TYPE', k], ['PTTL', k]]), pair.tgt.exec([['TYPE', k], ['PTTL', k]])]);
  const st = String(sType);
  const tt = String(tType);
  if (st === 'none') return tt === 'none' ? 'vanished' : onlyOnTarget(o, tTtl as number);
  if (tt === 'none') return missingOnTarget(o, sTtl as number);
  if (st !== tt) return { kind: 'type', detail: `${st} on the source, ${tt} on the target` };
  if (!(CORE_TYPES as readonly string[]).includes(st)) return { kind: 'uncomparable', detail: `type ${st} (a module's) is not compared` };
  const detail = await valuesDiffer(o, pair, st as CoreType, k);
  if (detail) return { kind: 'value', detail };
  return ttlVerdict(o, sTtl as number, tTtl as number);
}

async function both(pair: Pair, cmd: Arg[]): Promise<[Reply, Reply]> {
  const [[s], [t]] = await Promise.all([pair.src.exec([cmd]), pair.tgt.exec([cmd])]);
  for (const r of [s, t]) if (r instanceof RespError) throw new Error(`${String(cmd[0])}: ${r.message}`);
  return [s, t];
}

async function valuesDiffer(o: Options, pair: Pair, type: CoreType, k: Buffer): Promise<string | null> {
  switch (type) {
    case 'string': {
      const [sl, tl] = await both(pair, ['STRLEN', k]);
      if (sl !== tl) return `string of ${sl} bytes on the source, ${tl} on the target`;
      for (let off = 0; off < (sl as number); off += o.stringChunk) {
        const [s, t] = await both(pair, ['GETRANGE', k, off, off + o.stringChunk - 1]);
        const d = bytesDiffer(s as Buffer, t as Buffer, off);
        if (d) return d;
      }
      return null;
    }
    case 'hash':
    case 'zset':
    case 'set':
      return membersDiffer(o, pair, k, type);
    case 'list': {
      const [sl, tl] = await both(pair, ['LLEN', k]);
      const n = Math.min(sl as number, tl as number);
      for (let from = 0; from < n; from += o.pageSize) {
        const [s, t] = await both(pair, ['LRANGE', k, from, from + o.pageSize - 1]);
        const d = listPagesDiffer(s as Buffer[], t as Buffer[], from, false);
        if (d) return d;
      }
      return sl !== tl ? `list length ${sl} on the source, ${tl} on the target` : null;
    }
    case 'stream': {
      let start: Arg = '-';
      for (;;) {
        const [s, t] = await both(pair, ['XRANGE', k, start, '+', 'COUNT', o.pageSize]);
        const sp = s as Reply[];
        const tp = t as Reply[];
        const d = streamPagesDiffer(sp, tp, sp.length < o.pageSize || tp.length < o.pageSize);
        if (d) return d;
        if (sp.length < o.pageSize) break;
        start = `(${(sp[sp.length - 1] as Reply[])[0]!.toString()}`;
      }
      const [si, ti] = await both(pair, ['XINFO', 'STREAM', k]);
      const [sg, tg] = await both(pair, ['XINFO', 'GROUPS', k]);
      return compareStreamMeta(si, ti, sg, tg);
    }
  }
}

/**
 * A hash, set or zset in pages: each page the source's *SCAN returns is looked up on the target
 * (HMGET/SMISMEMBER/ZMSCORE), then the sizes are compared, so the target's extra members are found too (a
 * source page missing nothing and equal sizes mean equal sets); when the sizes differ, the target is scanned
 * the same way to name one. Only one page is held at a time.
 */
async function membersDiffer(o: Options, pair: Pair, k: Buffer, type: 'hash' | 'set' | 'zset'): Promise<string | null> {
  const what = type === 'hash' ? 'hash field' : type === 'set' ? 'set member' : 'zset member';
  const [ss, ts] = await both(pair, [type === 'hash' ? 'HLEN' : type === 'set' ? 'SCARD' : 'ZCARD', k]);
  const missing = await firstMissing(o, pair.src, pair.tgt, k, type, true);
  if (missing) return `${what} "${printable(missing.member)}"${missing.detail ?? ' missing on the target'}`;
  if (ss === ts) return null;
  const extra = await firstMissing(o, pair.tgt, pair.src, k, type, false);
  return `${ss} ${what}s on the source, ${ts} on the target${extra ? ` ("${printable(extra.member)}" only on the target)` : ''}`;
}

/**
 * The first member `from` has that `to` lacks (detail null) or, comparing values (from the source), holds with
 * another value (detail says what).
 */
async function firstMissing(
  o: Options,
  from: RespConnection,
  to: RespConnection,
  k: Buffer,
  type: 'hash' | 'set' | 'zset',
  values: boolean,
): Promise<{ member: Buffer; detail: string | null } | null> {
  const scanCmd = type === 'hash' ? 'HSCAN' : type === 'set' ? 'SSCAN' : 'ZSCAN';
  let cursor = '0';
  do {
    const [next, flat] = (await from.exec([[scanCmd, k, cursor, 'COUNT', o.pageSize]]))[0] as [Buffer, Buffer[]];
    cursor = next.toString();
    const members = type === 'set' ? flat : flat.filter((_, i) => i % 2 === 0);
    if (members.length === 0) continue;
    const [r] = await to.exec([[type === 'hash' ? 'HMGET' : type === 'set' ? 'SMISMEMBER' : 'ZMSCORE', k, ...members]]);
    const found = r as Array<Buffer | number | null>;
    for (let i = 0; i < members.length; i++) {
      if (found[i] === null || found[i] === 0) return { member: members[i], detail: null };
      if (type === 'set' || !values) continue;
      const a = flat[2 * i + 1];
      const b = found[i] as Buffer;
      if (!(type === 'hash' ? bytesEqual(a, b) : scoresEqual(a, b))) {
        return { member: members[i], detail: `: source ${describe(a)}, target ${describe(b)}` };
      }
    }
  } while (cursor !== '0');
  return null;
}

/** The second look: every suspect compared from scratch, side by side on the pool's pairs. */
async function recheck(run: Run, tasks: Tasks): Promise<void> {
  run.phase = 'recheck';
  const suspects = run.suspects;
  run.suspects = [];
  const per = Math.max(1, Math.ceil(suspects.length / 64));
  for (let i = 0; i < suspects.length; i += per) {
    const slice = suspects.slice(i, i + per);
    await tasks.spawn(async (pair) => {
      for (const s of slice) {
        run.rechecked++;
        const v = await compareKey(run, pair, s.key);
        if (!v || v === 'vanished') run.clear(s.kind);
        else {
          if (v.kind !== s.kind) {
            run.byKind[s.kind]--;
            run.byKind[v.kind]++;
          }
          run.list(s.key, v);
        }
        run.tick();
      }
    });
  }
  await tasks.drain();
}
