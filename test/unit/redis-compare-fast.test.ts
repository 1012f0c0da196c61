// The comparison's fast paths without a server: the RESP encoder's cache of repeated arguments (what goes on the
// wire must not depend on what was encoded before), the parser on replies cut anywhere, and the type guess by key
// name.
import { describe, expect, it } from 'vitest';
import { TypeGuess } from '../../activities/redis/compare';
import { encode, parseReply, type Arg } from '../../activities/redis/resp';

/** What encode must produce, written the plain way. */
function plain(cmds: Arg[][]): Buffer {
  const parts: Buffer[] = [];
  for (const cmd of cmds) {
    parts.push(Buffer.from(`*${cmd.length}\r\n`));
    for (const a of cmd) {
      const b = typeof a === 'object' ? a : Buffer.from(String(a), 'utf8');
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
  }
  return Buffer.concat(parts);
}

describe('RESP encoding with cached arguments', () => {
  it('encodes the same bytes whether an argument is cached or not, after the cache filled and emptied', () => {
    const cmds: Arg[][] = [['PTTL', Buffer.from('k1')], ['GETRANGE', Buffer.from([0xff, 0, 0x0d, 0x0a]), 0, 1_048_575], ['SET', 'é', ''], ['ZADD', 'z', -3, 'm']];
    expect(encode(cmds)).toEqual(plain(cmds));
    expect(encode(cmds)).toEqual(plain(cmds)); // now from the cache
    // Thousands of arguments that never repeat: the cache is emptied and refilled, bytes stay right.
    for (let i = 0; i < 3000; i++) {
      const one: Arg[][] = [['SET', `seed:str:${i}`, i, `value-${i}-${'x'.repeat(i % 50)}`]];
      expect(encode(one)).toEqual(plain(one));
    }
    expect(encode(cmds)).toEqual(plain(cmds));
    // A number and the string of its digits are the same argument; long and big arguments are never cut.
    const mixed: Arg[][] = [['X', 12, '12', 'y'.repeat(100), 1e15, Buffer.alloc(70_000, 1)]];
    expect(encode(mixed)).toEqual(plain(mixed));
  });
});

describe('RESP parsing', () => {
  it('parses a batch of replies in any cut, and each reply ends where the next begins', () => {
    const wire = Buffer.from(':-2\r\n$5\r\nab\r\nc\r\n*2\r\n$1\r\n0\r\n*3\r\n$0\r\n\r\n$-1\r\n:12345\r\n-WRONGTYPE x\r\n+OK\r\n*0\r\n', 'latin1');
    const all: unknown[] = [];
    for (let pos = 0; pos < wire.length; ) {
      const r = parseReply(wire, pos);
      if (typeof r === 'symbol') throw new Error(`incomplete at ${pos}`);
      all.push(r.value);
      pos = r.next;
    }
    expect(all.slice(0, 3)).toEqual([-2, Buffer.from('ab\r\nc'), [Buffer.from('0'), [Buffer.alloc(0), null, 12345]]]);
    expect(all.slice(4)).toEqual(['OK', []]);
    for (let cut = 0; cut < wire.length; cut++) {
      // Every prefix parses to whole replies followed by one INCOMPLETE, never a wrong value.
      const part = wire.subarray(0, cut);
      let pos = 0;
      let n = 0;
      for (;;) {
        const r = parseReply(part, pos);
        if (typeof r === 'symbol') break;
        expect(r.value).toEqual(all[n++]);
        pos = r.next;
      }
      expect(n).toBeLessThan(all.length);
    }
  });
});

describe('type guess by key name', () => {
  it('names alike but for their digits share a shape; others do not', () => {
    expect(TypeGuess.shape(Buffer.from('user:17:cart'))).toBe(TypeGuess.shape(Buffer.from('user:180:cart')));
    expect(TypeGuess.shape(Buffer.from('user:17:cart'))).not.toBe(TypeGuess.shape(Buffer.from('user:17:carts')));
    expect(TypeGuess.shape(Buffer.from('a1'))).not.toBe(TypeGuess.shape(Buffer.from('a')));
    expect(TypeGuess.shape(Buffer.from('1a'))).not.toBe(TypeGuess.shape(Buffer.from('a1')));
  });

  it('guesses the type last learned for a shape, else the most common type', () => {
    const g = new TypeGuess();
    expect(g.guess(Buffer.from('anything'))).toBe('string');
    g.learn(Buffer.from('q:1'), 'list');
    g.learn(Buffer.from('h:1'), 'hash');
    g.learn(Buffer.from('h:2'), 'hash');
    expect(g.guess(Buffer.from('q:99'))).toBe('list');
    expect(g.guess(Buffer.from('h:7'))).toBe('hash');
    expect(g.guess(Buffer.from('never-seen'))).toBe('hash');
    g.learn(Buffer.from('q:5'), 'zset');
    expect(g.guess(Buffer.from('q:6'))).toBe('zset');
  });
});
