// Integrity comparison of dump mode in two halves, so that most of it runs before or beside steps the write pause
// waits on anyway (BGSAVE, the copy, the target's restart and load):
//   A. the source read key by key over pipelined connections into one fingerprint a key, kept in the worker's
//      memory: type, absolute expiry (PEXPIRETIME; PTTL from the reading's time before Redis 7) and a 64-bit hash
//      of the canonical value (hash fields, set members and zset member → score in any order; list and stream
//      entries in order, with the stream's length, ids, counters and consumer groups). Either frozen already by
//      CLIENT PAUSE WRITE (which also stops key expiry and eviction), beside BGSAVE and the load; or, with
//      `readAhead`, before the pause while it still takes writes: every key it changes meanwhile is named by
//      Redis's client-side caching (tracking.ts) and read again, until the target is ready and once more then,
//      the source frozen by that time; what tracking cannot name (SWAPDB, DEBUG, a lost connection) reads the
//      whole source again, a FLUSHDB/FLUSHALL too;
//   B. once the target has loaded the dump, the target read the same way, each key's fingerprint looked up
//      among the source's: missing on the target, only on the target, type, value, expiry beyond the tolerance.
//      A key persistent on the source is not asked its expiry (~9% of the target server's CPU in this half; 1M keys
//      alone, 3 alternating runs: 2.57–2.85 s against 2.70–3.12 s asking every key): that none of them
//      has one is proven by the target's count of keys with an expiry (INFO keyspace) with nothing changed on it
//      meanwhile, else their expiries are asked one by one (askExpiries);
//   C. every key whose fingerprints differ, and every key too big for one page (read page by page, never as
//      one reply), compared once more by the semantic comparison (compareKeys): its verdict and detail text are
//      the ones reported, so a key that expired between the readings is not a difference and the evidence reads
//      as the key-by-key comparison's.
// Memory, only for the source: the names' bytes in one buffer and ~40 bytes a key of table and columns
// (KeyIndex, SourceDb: no JS object or string a key), measured in the header of maxSnapshotKeys.
// Were the source written after all (the pause lifted), the target's comparison finds what differs like any
// other difference, and the move's hold-writes step refuses the switch: frozen is about speed, never about what
// is found.
import { CORE_TYPES, type CoreType, printable, type RedisEndpoint } from './endpoint';
import { COMPARE_DEFAULTS, compareKeys, compareRedis, type SharedCompareOptions, firstPage, flatRecord, GROUP_FIELDS, isWhole, score, STREAM_FIELDS, type CompareResult, type DbCounts, type DiffKind, type KeyDifference } from './compare';
import { type DbKeyspace, parseKeyspace } from './info';
import { type Arg, type Reply, RespConnection, RespError } from './resp';
import { KeyIndex } from './key-index';
import { KeyTracker, TrackingUnavailable } from './tracking';

export interface SnapshotProgress {
  phase: 'source' | 'waiting-for-target' | 'source-catch-up' | 'target' | 'recheck';
  sourceKeys: number;
  targetKeys: number;
  suspects: number;
  elapsedMs: number;
}

/**
 * The settings of every comparison (compare.ts: connections, batch, page size, string chunk, TTL tolerance, the
 * differences listed and compared again in C), and the halves' own.
 */
export interface SnapshotCompareOptions extends SharedCompareOptions {
  /** Resolves once the target serves the loaded dump; the source is read before it is awaited. Stops on `signal`. */
  targetReady: (signal: AbortSignal) => Promise<void>;
  /**
   * Read the source ahead, while it still takes writes (before the write pause): every key changed meanwhile is
   * read again (tracking.ts), while the target loads and once more when it is ready, when the source is frozen.
   * `onRead` hears when the source has been read (or why it is not read ahead): the write pause waits for it.
   */
  readAhead?: { onRead: (r: ReadAhead) => Promise<void> | void };
  /** How often changed keys of a source read ahead are read again. Default 200 ms. */
  followEveryMs?: number;
  /** Changed keys waiting to be read again beyond which following stops: the frozen source is read again whole. Default 1M. */
  maxFollowed?: number;
  /**
   * The most source keys whose fingerprints are kept in the worker's memory (68 bytes a key measured with 2M keys
   * of ~15-byte names: heap and array buffers after a collection, 75 bytes of RSS). Beyond it the
   * source is not read ahead: once the target is ready both are compared key by key (compareRedis). Default 10M.
   */
  maxSnapshotKeys?: number;
  onProgress?: (p: SnapshotProgress) => void;
}

type Options = Required<Omit<SnapshotCompareOptions, 'onProgress' | 'signal' | 'readAhead'>> & Pick<SnapshotCompareOptions, 'onProgress' | 'signal' | 'readAhead'>;

/** How the source was read ahead: its keys and time, keys read again as they changed, and why not, if not. */
export interface ReadAhead {
  ahead: boolean;
  keys: number;
  ms: number;
  /** Changed keys read again (the same key once each time it changed between two readings). */
  reread: number;
  /** Whole readings again: a db emptied, or changes that could not be followed (note says which). */
  fullRereads: number;
  /** Invalidation messages received. */
  messages: number;
  note?: string;
}

const TYPE_CODE: Record<CoreType, number> = { string: 1, hash: 2, list: 3, set: 4, zset: 5, stream: 6 };
const TYPE_NAMES = ['none', 'string', 'hash', 'list', 'set', 'zset', 'stream'];
const typeName = (code: number) => TYPE_NAMES[code] ?? 'none';

/** No expiry (PEXPIRETIME -1). */
const PERSISTENT = -1;

/** A key read on one side: its fingerprint, or `big` (compared in C). */
interface Read {
  key: Buffer;
  type: number;
  expireAt: number;
  h1: number;
  h2: number;
  big: boolean;
  /** The key's slot among the source's (Side.slotOf), when the side looked it up: -1 unknown there or big. */
  slot?: number;
}

/**
 * The source's keys of one db: each fingerprinted key's slot in the columns (KeyIndex: no JS string a key), the
 * keys compared in C (`big`) aside. Read ahead, a key is read again when it changes: put() replaces what was
 * read, drop() forgets a key that is gone.
 */
class SourceDb {
  readonly keys = new KeyIndex();
  /** 0: the slot's key was dropped or became big. */
  type = new Uint8Array(1024);
  expireAt = new Float64Array(1024);
  h1 = new Int32Array(1024);
  h2 = new Int32Array(1024);
  /** Set when the target had the key (phase B). */
  seen = new Uint8Array(1024);
  /** Keys too big for one page: latin1 name → the name. */
  readonly big = new Map<string, Buffer>();

  get size(): number {
    return this.keys.size + this.big.size;
  }

  put(r: Read): void {
    if (r.big) {
      const at = this.keys.remove(r.key);
      if (at >= 0) this.type[at] = 0;
      this.big.set(r.key.toString('latin1'), Buffer.from(r.key));
      return;
    }
    if (this.big.size) this.big.delete(r.key.toString('latin1'));
    const i = this.keys.add(r.key);
    while (i >= this.type.length) this.grow();
    this.type[i] = r.type;
    this.expireAt[i] = r.expireAt;
    this.h1[i] = r.h1;
    this.h2[i] = r.h2;
  }

  drop(key: Buffer): void {
    const at = this.keys.remove(key);
    if (at >= 0) this.type[at] = 0;
    else this.big.delete(key.toString('latin1'));
  }

  private grow(): void {
    const n = this.type.length * 2;
    const g = <T extends Uint8Array | Float64Array | Int32Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a as never);
      return b;
    };
    this.type = g(this.type, (n) => new Uint8Array(n));
    this.expireAt = g(this.expireAt, (n) => new Float64Array(n));
    this.h1 = g(this.h1, (n) => new Int32Array(n));
    this.h2 = g(this.h2, (n) => new Int32Array(n));
    this.seen = g(this.seen, (n) => new Uint8Array(n));
  }
}

// ---- hashing: two 32-bit lanes (murmur3's mixing, different seeds), 4 bytes a step --------------------------

let l1 = 0;
let l2 = 0;

function mixWord(k: number): void {
  k = Math.imul(k, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b873593);
  l1 ^= k;
  l1 = (l1 << 13) | (l1 >>> 19);
  l1 = (Math.imul(l1, 5) + 0xe6546b64) | 0;
  l2 ^= Math.imul(k, 0x85ebca6b);
  l2 = (l2 << 17) | (l2 >>> 15);
  l2 = (Math.imul(l2, 9) + 0x2b3c4d5e) | 0;
}

/** The bytes with their length first (so consecutive items cannot run into each other). */
function mixBytes(b: Buffer): void {
  const n = b.length;
  mixWord(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) mixWord(b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24));
  if (i < n) {
    let k = 0;
    for (let s = 0; i < n; i++, s += 8) k |= b[i] << s;
    mixWord(k ^ 0x5a5a5a5a);
  }
}

function finish(h: number, seed: number): number {
  h ^= seed;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

function start(seed: number): void {
  l1 = seed | 0;
  l2 = (seed ^ 0x9e3779b9) | 0;
}

/** Hash of one element (a member, or a field and its value), both lanes. */
function elementHash(a: Buffer, b: Buffer | string | null, seed: number): [number, number] {
  start(seed);
  mixBytes(a);
  if (b !== null) mixBytes(typeof b === 'string' ? Buffer.from(b, 'latin1') : b);
  return [finish(l1, 0x1234567), finish(l2, 0x7654321)];
}

/** A score as text the same on both sides, whatever encoding printed it (score()). */
const canonicalScore = (b: Buffer) => String(score(b));

/**
 * The fingerprint of a whole value (its first page is all of it), or null when it is not: a hash, set or zset
 * is a sum of its elements' hashes (order-free), a list and a stream a chain (in order).
 */
function fingerprint(type: CoreType, page: Reply, meta?: { info: Reply; groups: Reply }): [number, number] {
  switch (type) {
    case 'string':
      start(1);
      mixBytes(page as Buffer);
      return [finish(l1, 1), finish(l2, 1)];
    case 'hash':
    case 'set':
    case 'zset': {
      const flat = (page as Reply[])[1] as Buffer[];
      let s1 = 0;
      let s2 = 0;
      let n = 0;
      const step = type === 'set' ? 1 : 2;
      for (let i = 0; i < flat.length; i += step) {
        const [a, b] = elementHash(flat[i], type === 'set' ? null : type === 'zset' ? canonicalScore(flat[i + 1]) : flat[i + 1], TYPE_CODE[type]);
        s1 = (s1 + a) | 0;
        s2 = (s2 + b) | 0;
        n++;
      }
      start(TYPE_CODE[type]);
      mixWord(n);
      mixWord(s1);
      mixWord(s2);
      return [finish(l1, 2), finish(l2, 2)];
    }
    case 'list': {
      start(3);
      const items = page as Buffer[];
      mixWord(items.length);
      for (const b of items) mixBytes(b);
      return [finish(l1, 3), finish(l2, 3)];
    }
    case 'stream': {
      start(6);
      const entries = page as Array<[Buffer, Buffer[]]>;
      mixWord(entries.length);
      for (const [id, fields] of entries) {
        mixBytes(id);
        mixWord(fields.length);
        for (const f of fields) mixBytes(f);
      }
      const info = flatRecord(meta!.info);
      for (const f of STREAM_FIELDS) mixBytes(Buffer.from(`${f}=${info.get(f)}`));
      const groups = (meta!.groups as Reply[]).map((x) => { const m = flatRecord(x); return GROUP_FIELDS.map((f) => `${f}=${m.get(f)}`).join(' '); }).sort();
      for (const g of groups) mixBytes(Buffer.from(g));
      return [finish(l1, 6), finish(l2, 6)];
    }
  }
}

// ---- reading one side ------------------------------------------------------------------------------

/** How one side tells a key's expiry (PEXPIRETIME from Redis 7, else PTTL plus the time of the reply), and its type guesses. */
interface Side {
  ep: RedisEndpoint;
  pexpiretime: boolean | null;
  /** The type last seen under a key's name without its trailing digits ("job:123" → "job:"). */
  guess: Map<string, CoreType>;
  /**
   * The target's side: a key's slot among the source's keys (-1: not there, or big), looked up once a key and
   * carried in its Read; a key persistent on the source (`persistent(slot)`) is not asked its expiry, taken as
   * persistent: the caller proves afterwards that none has one (checkExpiries), else asks them then.
   */
  slotOf?: (k: Buffer) => number;
  persistent?: (slot: number) => boolean;
}

function shapeOf(k: Buffer): string {
  let i = k.length;
  while (i > 0 && k[i - 1] >= 48 && k[i - 1] <= 57) i--;
  return k.toString('latin1', 0, i);
}

/** The commands that read a key of `type`: its first page, and a stream's XINFO STREAM and GROUPS. */
function pageCommands(o: Options, type: CoreType, k: Buffer, into: Arg[][]): void {
  into.push(firstPage(o, type, k));
  if (type === 'stream') into.push(['XINFO', 'STREAM', k], ['XINFO', 'GROUPS', k]);
}

/** The key's read from its page replies (at `j`), or `big` when the page is not the whole value. */
function judgePage(o: Options, r: Read, type: CoreType, replies: Reply[], j: number): void {
  const page = replies[j];
  const meta = type === 'stream' ? { info: replies[j + 1], groups: replies[j + 2] } : undefined;
  if (!isWhole(o, type, page) || (meta && (meta.info instanceof RespError || meta.groups instanceof RespError))) {
    r.big = true;
    return;
  }
  [r.h1, r.h2] = fingerprint(type, page, meta);
}

/**
 * One batch of keys in one round trip for most: the expiry and the first page read with the command of the type
 * guessed from the key's name (a page read proves the type: another type answers WRONGTYPE); keys without a
 * guess, or guessed wrong, are asked their TYPE, then read in a second round trip.
 */
async function readBatch(o: Options, side: Side, conn: RespConnection, keys: Buffer[]): Promise<Read[]> {
  if (side.pexpiretime === null) {
    const [r] = await conn.exec([['PEXPIRETIME', '__cutover_probe__']]);
    side.pexpiretime = !(r instanceof RespError);
  }
  const expiryCmd = side.pexpiretime ? 'PEXPIRETIME' : 'PTTL';
  const out: Read[] = [];
  const expiry = (ex: number, now: number) => (ex === -1 ? PERSISTENT : side.pexpiretime ? ex : now + ex);
  // Round 1: expiry (unless assumed persistent), then the guessed page or TYPE.
  const cmds: Arg[][] = [];
  const at: number[] = [];
  const asked: boolean[] = [];
  const slots: number[] = [];
  const guesses: Array<CoreType | undefined> = [];
  for (const k of keys) {
    const g = side.guess.get(shapeOf(k));
    const slot = side.slotOf ? side.slotOf(k) : -1;
    const ask = !(slot >= 0 && side.persistent!(slot));
    guesses.push(g);
    asked.push(ask);
    slots.push(slot);
    at.push(cmds.length);
    if (ask) cmds.push([expiryCmd, k]);
    if (g) pageCommands(o, g, k, cmds);
    else cmds.push(['TYPE', k]);
  }
  const first = await conn.exec(cmds);
  const now = Date.now();
  const typed: Array<{ key: Buffer; type: string | null; ask: boolean; slot: number }> = [];
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const ask = asked[i];
    const j = at[i] + (ask ? 1 : 0);
    const ex = ask ? (first[at[i]] as number) : -1;
    const g = guesses[i];
    if (g) {
      const page = first[j];
      if (page instanceof RespError && /^WRONGTYPE/.test(page.message)) {
        typed.push({ key: k, type: null, ask, slot: slots[i] });
        continue;
      }
      if (ex === -2) continue; // gone (expired): its page read as empty
      const r: Read = { key: k, type: TYPE_CODE[g], expireAt: expiry(ex, now), h1: 0, h2: 0, big: false, slot: slots[i] };
      judgePage(o, r, g, first, j);
      out.push(r);
      continue;
    }
    typed.push({ key: k, type: String(first[j]), ask, slot: slots[i] });
  }
  if (typed.length === 0) return out;
  // Round 2: TYPE (for wrong guesses), expiry and the page, for the keys of known or unknown type.
  const unknown = typed.filter((t) => t.type === null);
  if (unknown.length) {
    const types = await conn.exec(unknown.map((t) => ['TYPE', t.key]));
    unknown.forEach((t, i) => (t.type = String(types[i])));
  }
  const cmds2: Arg[][] = [];
  const at2: number[] = [];
  for (const t of typed) {
    at2.push(cmds2.length);
    if (t.type === 'none') continue;
    if (t.ask) cmds2.push([expiryCmd, t.key]);
    if ((CORE_TYPES as readonly string[]).includes(t.type!)) {
      side.guess.set(shapeOf(t.key), t.type as CoreType);
      pageCommands(o, t.type as CoreType, t.key, cmds2);
    }
  }
  const second = cmds2.length ? await conn.exec(cmds2) : [];
  const now2 = Date.now();
  typed.forEach((t, i) => {
    if (t.type === 'none') return;
    const j = at2[i] + (t.ask ? 1 : 0);
    const ex = t.ask ? (second[at2[i]] as number) : -1;
    if (ex === -2) return; // gone since the scan (expired)
    if (!(CORE_TYPES as readonly string[]).includes(t.type!)) {
      // A module's type: compareKeys reports it as not comparable.
      out.push({ key: t.key, type: 0, expireAt: expiry(ex, now2), h1: 0, h2: 0, big: true, slot: t.slot });
      return;
    }
    const type = t.type as CoreType;
    const r: Read = { key: t.key, type: TYPE_CODE[type], expireAt: expiry(ex, now2), h1: 0, h2: 0, big: false, slot: t.slot };
    const page = second[j];
    if (page instanceof RespError && /^WRONGTYPE/.test(page.message)) r.big = true; // changed type since TYPE: compareKeys looks
    else judgePage(o, r, type, second, j);
    out.push(r);
  });
  return out;
}

/**
 * Every key of one db on one side, `connections` batches at a time, with the next SCAN already on its way;
 * each batch's reads handed to `onRead` in order of arrival.
 */
async function readDb(o: Options, side: Side, db: number, onRead: (reads: Read[]) => void, tick: () => void): Promise<void> {
  const conns: RespConnection[] = [];
  try {
    const scanConn = await RespConnection.open(side.ep, db);
    conns.push(scanConn);
    const free: RespConnection[] = [];
    for (let i = 0; i < Math.max(1, o.connections); i++) {
      const c = await RespConnection.open(side.ep, db);
      conns.push(c);
      free.push(c);
    }
    const waiting: Array<(c: RespConnection) => void> = [];
    const acquire = () => (free.length ? Promise.resolve(free.pop()!) : new Promise<RespConnection>((r) => waiting.push(r)));
    const release = (c: RespConnection) => {
      const w = waiting.shift();
      if (w) w(c);
      else free.push(c);
    };
    const running = new Set<Promise<void>>();
    let failure: unknown = null;
    const scan = (cursor: string) => scanConn.exec([['SCAN', cursor, 'COUNT', o.batch]]).then(([r]) => r as [Buffer, Buffer[]]);
    let pending: Promise<[Buffer, Buffer[]]> | null = scan('0');
    while (pending) {
      if (o.signal?.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new Error('comparison cancelled');
      if (failure) throw failure;
      const [next, keys]: [Buffer, Buffer[]] = await pending;
      const cursor = next.toString();
      pending = cursor === '0' ? null : scan(cursor);
      pending?.catch(() => undefined); // awaited on the next turn
      if (keys.length === 0) continue;
      const conn = await acquire();
      const t: Promise<void> = readBatch(o, side, conn, keys)
        .then((reads) => {
          onRead(reads);
          tick();
        })
        .catch((err: unknown) => {
          failure ??= err;
        })
        .finally(() => {
          release(conn);
          running.delete(t);
        });
      running.add(t);
    }
    while (running.size) await Promise.all([...running]);
    if (failure) throw failure;
  } finally {
    for (const c of conns) c.close();
  }
}

async function keyspaceOf(ep: RedisEndpoint) {
  const c = await RespConnection.open(ep, 0);
  try {
    return parseKeyspace(String(await c.call('INFO', 'keyspace')));
  } finally {
    c.close();
  }
}

const KINDS: DiffKind[] = ['type', 'value', 'ttl', 'missing-on-target', 'only-on-target', 'uncomparable'];

/** A fingerprint difference: the key and what the fingerprints say (used as is only beyond the recheck limit). */
interface Suspect {
  db: number;
  key: Buffer;
  kind: DiffKind;
  detail: string;
}

/** The comparison's result, with where its time went: the source's half, the wait for the target, the rest. */
export type SnapshotCompareResult = CompareResult & {
  phasesMs: { source: number; waitingForTarget: number; sourceCatchUp?: number; target: number; recheck: number };
  readAhead?: ReadAhead;
  /** How the target's expiries were checked: asked of every key, or proven by the counts for the persistent ones. */
  expiries?: string;
};

/** What changes a server's keys: writes since its load or last save, keys expired, keys evicted. */
async function targetChanges(ep: RedisEndpoint): Promise<string> {
  const c = await RespConnection.open(ep, 0);
  try {
    const [persistence, stats] = (await c.exec([['INFO', 'persistence'], ['INFO', 'stats']])).map(String);
    const field = (text: string, name: string) => new RegExp(`^${name}:(\\d+)`, 'm').exec(text)?.[1] ?? '?';
    return `changes ${field(persistence, 'rdb_changes_since_last_save')}, expired ${field(stats, 'expired_keys')}, evicted ${field(stats, 'evicted_keys')}`;
  } finally {
    c.close();
  }
}

/**
 * Null when every key of the target with an expiry was seen with it (`seen`: per db, keys read with one) and
 * nothing changed since `before`; else what could not be proven.
 */
async function checkExpiries(ep: RedisEndpoint, before: string, seen: Map<number, number>): Promise<string | null> {
  const after = await targetChanges(ep);
  if (after !== before || after.includes('?')) return `the target changed while it was read (${before} → ${after})`;
  const info = await keyspaceOf(ep);
  for (const [db, n] of seen) {
    const expires = info.find((d) => d.db === db)?.expires ?? 0;
    if (expires !== n) return `db${db} of the target has ${expires} keys with an expiry, ${n} were seen with one`;
  }
  return null;
}

/**
 * The target's expiry of every key read as persistent on both sides without asking (phase B's assumption):
 * one with an expiry, or gone since, is a suspect for C. Returns how many were asked.
 */
async function askExpiries(
  o: Options,
  side: Side,
  dbIndexes: number[],
  sourceDbs: Map<number, SourceDb>,
  suspect: (db: number, key: Buffer, kind: DiffKind, detail: string) => void,
): Promise<number> {
  let asked = 0;
  const cmd = side.pexpiretime ? 'PEXPIRETIME' : 'PTTL';
  for (const db of dbIndexes) {
    const s = sourceDbs.get(db);
    if (!s) continue;
    const names: Buffer[] = [];
    for (let i = 0; i < s.keys.slots; i++) if (s.seen[i] && s.type[i] !== 0 && s.expireAt[i] === PERSISTENT) names.push(s.keys.keyAt(i));
    asked += names.length;
    const conns = await Promise.all(Array.from({ length: Math.max(1, o.connections) }, () => RespConnection.open(side.ep, db)));
    try {
      let next = 0;
      const size = o.batch * 2;
      await Promise.all(conns.map(async (c) => {
        for (let from = next; from < names.length; from = next) {
          next += size;
          const keys = names.slice(from, from + size);
          const replies = await c.exec(keys.map((k) => [cmd, k]));
          replies.forEach((r, j) => {
            if (r === -2) suspect(db, keys[j], 'missing-on-target', 'gone from the target while it was read');
            else if (typeof r === 'number' && r >= 0) suspect(db, keys[j], 'ttl', 'no ttl on the source, one on the target');
          });
        }
      }));
    } finally {
      for (const c of conns) c.close();
    }
  }
  return asked;
}

/**
 * Keys that changed, read again in every db the source has (a change message names no db): each read replaces
 * what was known of the key there, a key gone is forgotten.
 */
async function rereadKeys(o: Options, side: Side, sourceDbs: Map<number, SourceDb>, keys: Buffer[], now: DbKeyspace[]): Promise<void> {
  const dbs = [...new Set([...sourceDbs.keys(), ...now.map((d) => d.db)])];
  for (const db of dbs) {
    let s = sourceDbs.get(db);
    if (!s) sourceDbs.set(db, (s = new SourceDb()));
    const conn = await RespConnection.open(side.ep, db);
    try {
      for (let i = 0; i < keys.length; i += o.batch) {
        const chunk = keys.slice(i, i + o.batch);
        const found = new Set<string>();
        for (const r of await readBatch(o, side, conn, chunk)) {
          s.put(r);
          found.add(r.key.toString('latin1'));
        }
        for (const k of chunk) if (!found.has(k.toString('latin1'))) s.drop(k);
      }
    } finally {
      conn.close();
    }
  }
}

/** Too many keys to keep their fingerprints: wait for the target, then the key-by-key comparison of both. */
async function compareAfterTarget(o: Options, started: number, signal: AbortSignal): Promise<SnapshotCompareResult> {
  o.onProgress?.({ phase: 'waiting-for-target', sourceKeys: 0, targetKeys: 0, suspects: 0, elapsedMs: Date.now() - started });
  await o.targetReady(signal);
  const ready = Date.now();
  const r = await compareRedis({
    source: o.source,
    target: o.target,
    connections: o.connections,
    batch: o.batch,
    ttlToleranceMs: o.ttlToleranceMs,
    maxDifferences: o.maxDifferences,
    signal: o.signal,
    // The same heartbeat as the halves: keys compared stand for both sides' counts.
    onProgress: (p) => o.onProgress?.({ phase: p.phase === 'recheck' ? 'recheck' : 'target', sourceKeys: p.keysCompared, targetKeys: p.targetKeysScanned, suspects: 0, elapsedMs: Date.now() - started }),
  });
  return { ...r, phasesMs: { source: 0, waitingForTarget: ready - started, target: Date.now() - ready, recheck: 0 } };
}

export async function compareSnapshot(options: SnapshotCompareOptions): Promise<SnapshotCompareResult> {
  const o: Options = {
    ...COMPARE_DEFAULTS,
    maxSnapshotKeys: 10_000_000,
    followEveryMs: 200,
    maxFollowed: 1_000_000,
    // Settings left undefined keep their defaults.
    ...(Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as SnapshotCompareOptions),
  };
  const started = Date.now();
  const counts = { sourceKeys: 0, targetKeys: 0, suspects: 0 };
  let phase: SnapshotProgress['phase'] = 'source';
  let last = 0;
  const tick = (force = false) => {
    const now = Date.now();
    if (!o.onProgress || (!force && now - last < o.progressEveryMs)) return;
    last = now;
    o.onProgress({ phase, ...counts, elapsedMs: now - started });
  };

  // A. The source: frozen already, or read ahead while it is live and followed until the target is ready.
  const src: Side = { ep: o.source, pexpiretime: null, guess: new Map() };
  const sourceDbs = new Map<number, SourceDb>();
  const sourceCount = () => (counts.sourceKeys = [...sourceDbs.values()].reduce((n, d) => n + d.size, 0));
  const readAll = async (dbs: DbKeyspace[]) => {
    sourceDbs.clear();
    for (const { db } of dbs) {
      const s = new SourceDb();
      sourceDbs.set(db, s);
      await readDb(o, src, db, (reads) => {
        for (const r of reads) s.put(r);
        sourceCount();
      }, tick);
    }
    sourceCount();
  };
  let srcInfo = await keyspaceOf(o.source);
  const tooMany = srcInfo.reduce((n, d) => n + d.keys, 0) > o.maxSnapshotKeys;
  let tracker: KeyTracker | null = null;
  let notAhead: string | null = tooMany ? `${srcInfo.reduce((n, d) => n + d.keys, 0)} keys: more than the ${o.maxSnapshotKeys} kept in memory` : null;
  if (o.readAhead && !notAhead) {
    try {
      tracker = await KeyTracker.open(o.source, { maxPending: o.maxFollowed });
    } catch (err) {
      if (!(err instanceof TrackingUnavailable)) throw err;
      notAhead = `changes cannot be followed: ${err.message}`;
    }
  }
  const ahead: ReadAhead = { ahead: false, keys: 0, ms: 0, reread: 0, fullRereads: 0, messages: 0, note: notAhead ?? undefined };
  const ready = new AbortController();
  const stopReady = () => ready.abort(o.signal?.reason ?? new Error('comparison ended'));
  o.signal?.addEventListener('abort', stopReady, { once: true });
  try {
    if (tooMany || (o.readAhead && !tracker)) {
      // Not read ahead: the source is read with the target, once it is ready, both key by key.
      await o.readAhead?.onRead(ahead);
      return { ...(await compareAfterTarget(o, started, ready.signal)), readAhead: ahead };
    }
    await readAll(srcInfo);
    const sourceRead = Date.now();
    if (tracker) {
      Object.assign(ahead, { ahead: true, keys: counts.sourceKeys, ms: sourceRead - started });
      await o.readAhead!.onRead({ ...ahead });
    }

    // B. The target, once it serves the dump; until then a source read ahead is followed.
    phase = 'waiting-for-target';
    tick(true);
    const sourceDone = Date.now();
    let isReady = false;
    const readyP = o.targetReady(ready.signal).then(() => {
      isReady = true;
    });
    readyP.catch(() => undefined); // awaited below
    const follow = async (final: boolean) => {
      for (;;) {
        const { keys, flushed } = tracker!.take();
        if (flushed) {
          ahead.fullRereads++;
          ahead.note = 'a db was emptied (FLUSHDB/FLUSHALL) while it was read ahead: read again whole';
          await readAll(await keyspaceOf(o.source));
        } else if (keys.length) {
          ahead.reread += keys.length;
          await rereadKeys(o, src, sourceDbs, keys, await keyspaceOf(o.source));
          sourceCount();
        }
        if (!final || (!flushed && keys.length === 0)) return;
      }
    };
    if (tracker) {
      while (!isReady) {
        await Promise.race([readyP, new Promise((r) => setTimeout(r, o.followEveryMs))]);
        if (!isReady) await follow(false);
        tick();
      }
    }
    await readyP;
    const targetReady = Date.now();
    if (tracker) {
      // The source is frozen by now (paused before BGSAVE): what changed before the pause is all in.
      phase = 'source-catch-up';
      await tracker.barrier();
      const why = await tracker.incomplete();
      ahead.messages = tracker.messages;
      if (why) {
        ahead.fullRereads++;
        ahead.note = `${why}: read again whole`;
        tracker.take();
        await readAll(await keyspaceOf(o.source));
      } else await follow(true);
      srcInfo = await keyspaceOf(o.source);
    }
    const caughtUp = Date.now();
    phase = 'target';
    const tgt: Side = { ep: o.target, pexpiretime: null, guess: new Map() };
    const tgtInfo = await keyspaceOf(o.target);
    const dbIndexes = [...new Set([...srcInfo, ...tgtInfo].map((d) => d.db))].sort((a, b) => a - b);
    const dbs: DbCounts[] = dbIndexes.map((db) => ({
      db,
      sourceKeys: srcInfo.find((d) => d.db === db)?.keys ?? 0,
      targetKeys: tgtInfo.find((d) => d.db === db)?.keys ?? 0,
    }));
    const tol = o.ttlToleranceMs;
    /**
     * One reading of the target, every db. The expiry of a key persistent on the source is not asked (header): it
     * is proven afterwards instead (checkExpiries), else asked then (askExpiries).
     */
    const readTarget = async () => {
      const suspects: Suspect[] = [];
      const big: Array<{ db: number; key: Buffer }> = [];
      /** Per db: the target's keys seen with an expiry. */
      const expiring = new Map<number, number>();
      for (const db of dbIndexes) {
        const s = sourceDbs.get(db) ?? new SourceDb();
        for (const k of s.big.values()) big.push({ db, key: k });
        const bigSeen = new Set<string>();
        const onlyHere = new Set<string>();
        const withExpiry = new Set<string>();
        const suspect = (key: Buffer, kind: DiffKind, detail: string) => {
          suspects.push({ db, key: Buffer.from(key), kind, detail });
          counts.suspects = suspects.length;
        };
        tgt.slotOf = (k) => s.keys.get(k);
        tgt.persistent = (i) => s.expireAt[i] === PERSISTENT;
        if (tgtInfo.some((d) => d.db === db)) {
          await readDb(o, tgt, db, (reads) => {
            const now = Date.now();
            for (const r of reads) {
              counts.targetKeys++;
              // Looked up already (slotOf): the name is made only for the keys that need it.
              const i = r.slot!;
              if (r.expireAt !== PERSISTENT) withExpiry.add(r.key.toString('latin1'));
              if (i < 0) {
                const name = r.key.toString('latin1');
                if (s.big.has(name)) continue; // big on the source: compared in C
                // Expiring within the tolerance: it expired on the source a moment earlier.
                if (r.expireAt !== PERSISTENT && r.expireAt - now <= tol) continue;
                if (onlyHere.has(name)) continue; // SCAN returned it twice
                onlyHere.add(name);
                suspect(r.key, 'only-on-target', r.expireAt !== PERSISTENT ? `on the target only (ttl ${r.expireAt - now} ms)` : 'on the target only');
                continue;
              }
              if (s.seen[i]) continue; // SCAN returned it twice
              s.seen[i] = 1;
              if (r.big) {
                const name = r.key.toString('latin1');
                if (!bigSeen.has(name)) big.push({ db, key: Buffer.from(r.key) });
                bigSeen.add(name);
                continue;
              }
              if (s.type[i] !== r.type) {
                suspect(r.key, 'type', `${typeName(s.type[i])} on the source, ${typeName(r.type)} on the target`);
                continue;
              }
              if (s.h1[i] !== r.h1 || s.h2[i] !== r.h2) {
                suspect(r.key, 'value', `${typeName(r.type)} value differs`);
                continue;
              }
              const se = s.expireAt[i];
              if (se !== r.expireAt && (se === PERSISTENT || r.expireAt === PERSISTENT || Math.abs(se - r.expireAt) > tol)) {
                suspect(r.key, 'ttl', se === PERSISTENT ? 'no ttl on the source, one on the target' : r.expireAt === PERSISTENT ? 'ttl on the source, none on the target' : `expiry ${se - r.expireAt} ms apart`);
              }
            }
          }, tick);
        }
        expiring.set(db, withExpiry.size);
        // Source keys the target never showed.
        const now = Date.now();
        for (let i = 0; i < s.keys.slots; i++) {
          if (s.seen[i] || s.type[i] === 0) continue;
          const e = s.expireAt[i];
          if (e !== PERSISTENT && e - now <= tol) continue; // expired meanwhile (on the target it is not paused)
          suspect(s.keys.keyAt(i), 'missing-on-target', e !== PERSISTENT ? `missing on the target (source ttl ${e - now} ms)` : 'missing on the target');
        }
      }
      return { suspects, big, expiring };
    };
    let expiryNote: string | undefined;
    const before = await targetChanges(o.target);
    const pass = await readTarget();
    // The expiries not asked: Redis counts a db's keys with an expiry (INFO keyspace `expires`). When the target
    // keys seen with one account for that count and nothing on the target changed meanwhile (no write, expiry or
    // eviction: else a key could have lost one while another gained one), no key taken as persistent has one.
    // Else those keys' expiries are asked now, one command a key.
    const unproven = await checkExpiries(o.target, before, pass.expiring);
    if (unproven) {
      const asked = await askExpiries(o, tgt, dbIndexes, sourceDbs, (db, key, kind, detail) => pass.suspects.push({ db, key, kind, detail }));
      expiryNote = `${unproven}: the expiry of the ${asked} keys taken as persistent asked one by one`;
    }
    const { suspects, big } = pass;
    counts.suspects = suspects.length;
    sourceDbs.clear();

    // C. Every suspect (up to the limit) and every big key compared once more, semantically, on `connections`
    // pairs side by side.
    phase = 'recheck';
    tick(true);
    const targetDone = Date.now();
    const recheck = suspects.slice(0, o.recheckLimit);
    const unchecked = suspects.slice(o.recheckLimit);
    const compareAll = async (keys: Array<{ db: number; key: Buffer }>) => {
      if (keys.length === 0) return [];
      const parts = Math.max(1, Math.min(o.connections, Math.ceil(keys.length / 50)));
      const per = Math.ceil(keys.length / parts);
      return Promise.all(
        Array.from({ length: parts }, (_, p) =>
          compareKeys({ source: o.source, target: o.target, keys: keys.slice(p * per, (p + 1) * per), ttlToleranceMs: tol, maxDifferences: o.maxDifferences, signal: o.signal, onProgress: () => tick() }),
        ),
      );
    };
    const [again, bigResults] = [await compareAll(recheck), await compareAll(big)];
    const byKind = Object.fromEntries(KINDS.map((k) => [k, 0])) as Record<DiffKind, number>;
    let keysDifferent = 0;
    let differences: KeyDifference[] = [];
    for (const r of [...again, ...bigResults]) {
      keysDifferent += r.keysDifferent;
      for (const k of KINDS) byKind[k] += r.byKind[k];
      differences = differences.concat(r.differences);
    }
    const stillDifferent = again.reduce((n, r) => n + r.keysDifferent, 0);
    for (const x of unchecked) {
      keysDifferent++;
      byKind[x.kind]++;
      const shown = printable(x.key);
      differences.push({ db: x.db, key: shown, kind: x.kind, detail: `${x.detail} (not compared again: over ${o.recheckLimit} differences)`, ...(Buffer.from(shown, 'utf8').equals(x.key) ? {} : { keyBase64: x.key.toString('base64') }) });
    }
    differences = differences.slice(0, o.maxDifferences);
    const elapsedMs = Date.now() - started;
    const keysCompared = counts.sourceKeys;
    return {
      equal: keysDifferent === 0,
      dbs,
      keysCompared,
      targetKeysScanned: counts.targetKeys,
      keysDifferent,
      byKind,
      differences,
      rechecked: recheck.length,
      clearedByRecheck: recheck.length - stillDifferent,
      bigKeys: big.length,
      method: 'values',
      elapsedMs,
      // Per second of reading (both sides), the wait for the target left out: it is the load's time, not the comparison's.
      keysPerSec: Math.round((keysCompared / Math.max(elapsedMs - (targetReady - sourceDone), 1)) * 1000),
      phasesMs: { source: sourceDone - started, waitingForTarget: targetReady - sourceDone, sourceCatchUp: caughtUp - targetReady, target: targetDone - caughtUp, recheck: started + elapsedMs - targetDone },
      readAhead: ahead,
      expiries: expiryNote ?? 'the target\'s keys persistent on the source: proven without asking each (INFO keyspace expires)',
    };
  } finally {
    tracker?.close();
    o.signal?.removeEventListener('abort', stopReady);
    stopReady();
  }
}
