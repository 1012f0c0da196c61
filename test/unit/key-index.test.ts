// The comparison's key index against a Map of the same names: adds, lookups, removals and re-adds through
// several growths of its table and arena, binary names, the empty name, names that differ in one byte.
import { describe, expect, it } from 'vitest';
import { KeyIndex } from '../../activities/redis/key-index';

describe('KeyIndex', () => {
  it('answers as a Map does through growth, removals and re-adds', () => {
    const idx = new KeyIndex();
    const ref = new Map<string, number>();
    const name = (i: number) => Buffer.from(i % 7 === 0 ? [0xff, 0x00, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff] : Buffer.from(`seed:str:${i}`));
    for (let i = 0; i < 50_000; i++) {
      const k = name(i);
      const slot = idx.add(k);
      expect(idx.add(k)).toBe(slot); // present: the same slot
      ref.set(k.toString('latin1'), slot);
    }
    expect(idx.size).toBe(50_000);
    // Remove every third, then add half of those back (new slots), and some never seen.
    for (let i = 0; i < 50_000; i += 3) {
      const k = name(i);
      expect(idx.remove(k)).toBe(ref.get(k.toString('latin1')));
      expect(idx.remove(k)).toBe(-1);
      ref.delete(k.toString('latin1'));
    }
    for (let i = 0; i < 50_000; i += 6) {
      const k = name(i);
      const slot = idx.add(k);
      expect(slot).toBeGreaterThanOrEqual(50_000);
      ref.set(k.toString('latin1'), slot);
    }
    expect(idx.size).toBe(ref.size);
    for (let i = 0; i < 60_000; i++) {
      const k = name(i);
      expect(idx.get(k)).toBe(ref.get(k.toString('latin1')) ?? -1);
    }
    for (const [n, slot] of ref) expect(idx.keyAt(slot).equals(Buffer.from(n, 'latin1'))).toBe(true);
  });

  it('tells apart names of one byte difference, prefixes and the empty name', () => {
    const idx = new KeyIndex();
    const names = ['', 'a', 'ab', 'abc', 'abd', 'abc\u0000', '\u0000abc'].map((s) => Buffer.from(s, 'latin1'));
    names.forEach((n, i) => expect(idx.add(n)).toBe(i));
    names.forEach((n, i) => expect(idx.get(n)).toBe(i));
    expect(idx.get(Buffer.from('abe'))).toBe(-1);
    expect(idx.remove(Buffer.from('ab'))).toBe(2);
    expect(idx.get(Buffer.from('abc'))).toBe(3);
    expect(idx.get(Buffer.from('ab'))).toBe(-1);
  });
});
