// Key names → slots for millions of keys, without a JS string or object a key: the names' bytes in one growing
// buffer, an open-addressing table of slot numbers (linear probing, tombstones for removals) over a hash of
// the bytes. A Map<string, number> of 2M latin1 names cost 1–1.4 µs a lookup here (a new string a key, then the
// map's buckets and the stored string scattered over a large heap), a third of the worker's time in the
// comparison's target half; this costs a hash of the name's bytes and one or two cache lines.

const EMPTY = -1;
const REMOVED = -2;

/** FNV-1a over the bytes, then murmur3's finalizer (FNV alone clusters in a power-of-two table). */
function hashOf(b: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ b[i], 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class KeyIndex {
  /** Slot → where its name's bytes are in `bytes`, and their hash. */
  private start = new Float64Array(1024);
  private length = new Uint32Array(1024);
  private hash = new Uint32Array(1024);
  private bytes = Buffer.allocUnsafe(1 << 16);
  private used = 0;
  /** Slots handed out (removed ones included: a slot is never reused). */
  slots = 0;
  /** Names present. */
  size = 0;
  /** Table position → slot, EMPTY or REMOVED. */
  private table = new Int32Array(2048).fill(EMPTY);
  /** Table entries not EMPTY (present or REMOVED): what decides when to grow. */
  private filled = 0;

  /** The slot of `key`, or -1. */
  get(key: Uint8Array): number {
    const p = this.find(key);
    return p < 0 ? -1 : this.table[p];
  }

  /** Where `key` is in the table, or -1. */
  private find(key: Uint8Array): number {
    const h = hashOf(key, 0, key.length);
    const mask = this.table.length - 1;
    for (let p = h & mask; ; p = (p + 1) & mask) {
      const s = this.table[p];
      if (s === EMPTY) return -1;
      if (s !== REMOVED && this.hash[s] === h && this.equals(s, key)) return p;
    }
  }

  /** The slot of `key`, a new one if it has none. */
  add(key: Uint8Array): number {
    const found = this.get(key);
    if (found >= 0) return found;
    // At most half full: past it, twice the size, or the same size when removed names make most of it.
    if ((this.filled + 1) * 2 > this.table.length) this.rehash((this.size + 1) * 4 > this.table.length ? this.table.length * 2 : this.table.length);
    const slot = this.slots++;
    if (slot === this.hash.length) this.growSlots();
    if (this.used + key.length > this.bytes.length) {
      const b = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + key.length));
      this.bytes.copy(b, 0, 0, this.used);
      this.bytes = b;
    }
    this.bytes.set(key, this.used);
    this.start[slot] = this.used;
    this.length[slot] = key.length;
    this.used += key.length;
    const h = hashOf(key, 0, key.length);
    this.hash[slot] = h;
    this.insert(slot, h);
    this.size++;
    return slot;
  }

  /** Forgets `key`; returns its slot, or -1 if it was not there. */
  remove(key: Uint8Array): number {
    const p = this.find(key);
    if (p < 0) return -1;
    const s = this.table[p];
    this.table[p] = REMOVED;
    this.size--;
    return s;
  }

  /** The name of a slot (a copy). */
  keyAt(slot: number): Buffer {
    const from = this.start[slot];
    return Buffer.from(this.bytes.subarray(from, from + this.length[slot]));
  }

  private equals(slot: number, key: Uint8Array): boolean {
    const n = this.length[slot];
    if (n !== key.length) return false;
    const b = this.bytes;
    const from = this.start[slot];
    for (let i = 0; i < n; i++) if (b[from + i] !== key[i]) return false;
    return true;
  }

  private insert(slot: number, h: number): void {
    const mask = this.table.length - 1;
    let p = h & mask;
    while (this.table[p] >= 0) p = (p + 1) & mask;
    if (this.table[p] === EMPTY) this.filled++;
    this.table[p] = slot;
  }

  /** A table of `size` holding the present names only (tombstones dropped). */
  private rehash(size: number): void {
    const old = this.table;
    this.table = new Int32Array(size).fill(EMPTY);
    this.filled = 0;
    for (const s of old) if (s >= 0) this.insert(s, this.hash[s]);
  }

  private growSlots(): void {
    const n = this.hash.length * 2;
    const start = new Float64Array(n);
    start.set(this.start);
    this.start = start;
    const length = new Uint32Array(n);
    length.set(this.length);
    this.length = length;
    const hash = new Uint32Array(n);
    hash.set(this.hash);
    this.hash = hash;
  }
}
