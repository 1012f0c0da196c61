// known_hosts read as OpenSSH reads it, checked against lines the real ssh-keygen wrote and hashed.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { entryMatches, hostKeysFor, parseKnownHosts } from '../../activities/clients/known-hosts';

let dir: string;
/** "ssh-ed25519 AAAA..." of a fresh key, and its blob. */
const keys: { text: string; blob: Buffer }[] = [];

function newKey(name: string): { text: string; blob: Buffer } {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', file]);
  const text = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return { text, blob: Buffer.from(text.split(' ')[1], 'base64') };
}

/** Writes `lines` to a known_hosts file and hashes it with `ssh-keygen -H`, as HashKnownHosts would. */
function hashed(lines: string[]): string {
  const file = path.join(dir, `kh-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  execFileSync('ssh-keygen', ['-q', '-H', '-f', file], { stdio: 'ignore' });
  return readFileSync(file, 'utf8');
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cutover-kh-'));
  keys.push(newKey('a'), newKey('b'), newKey('c'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('known_hosts', () => {
  it('matches hashed lines from ssh-keygen -H, for port 22 and [host]:port', () => {
    const text = hashed([`[127.0.1.1]:2222 ${keys[0].text}`, `db.example.internal ${keys[1].text}`]);
    expect(text).toMatch(/^\|1\|/m);
    expect(text).not.toContain('127.0.1.1');
    const entries = parseKnownHosts(text);
    expect(hostKeysFor(entries, '[127.0.1.1]:2222').pinned).toEqual([keys[0].blob]);
    expect(hostKeysFor(entries, 'db.example.internal').pinned).toEqual([keys[1].blob]);
    // Another port, or the address without its port, is another host.
    expect(hostKeysFor(entries, '[127.0.1.1]:22').pinned).toEqual([]);
    expect(hostKeysFor(entries, '127.0.1.1').pinned).toEqual([]);
    // Host names are compared lowercased, as ssh does.
    expect(hostKeysFor(entries, 'DB.example.internal').pinned).toEqual([keys[1].blob]);
  });

  it('agrees with ssh-keygen -F on which hashed line names a host', () => {
    const text = hashed([`[10.0.0.5]:2200 ${keys[0].text}`, `10.0.0.6 ${keys[1].text}`]);
    const file = path.join(dir, 'kh-f');
    writeFileSync(file, text);
    for (const spec of ['[10.0.0.5]:2200', '10.0.0.6', '10.0.0.7']) {
      let found: string;
      try {
        found = execFileSync('ssh-keygen', ['-F', spec, '-f', file], { encoding: 'utf8' });
      } catch {
        found = '';
      }
      const ours = parseKnownHosts(text).filter((e) => entryMatches(e, spec));
      expect(ours.length > 0, spec).toBe(found.includes('|1|'));
    }
  });

  it('reads comma-separated patterns, wildcards and negations', () => {
    const entries = parseKnownHosts(
      [`web1.example,10.1.0.5,[10.1.0.5]:2222 ${keys[0].text}`, `*.example,!bad.example ${keys[1].text}`, `10.2.0.? ${keys[2].text}`].join('\n'),
    );
    expect(hostKeysFor(entries, '10.1.0.5').pinned).toEqual([keys[0].blob]);
    expect(hostKeysFor(entries, '[10.1.0.5]:2222').pinned).toEqual([keys[0].blob]);
    expect(hostKeysFor(entries, 'web1.example').pinned).toEqual([keys[0].blob, keys[1].blob]);
    expect(hostKeysFor(entries, 'bad.example').pinned).toEqual([]);
    expect(hostKeysFor(entries, '10.2.0.7').pinned).toEqual([keys[2].blob]);
    expect(hostKeysFor(entries, '10.2.0.17').pinned).toEqual([]);
    // A dot in a pattern is a dot, not "any character".
    expect(hostKeysFor(entries, '10x1x0x5').pinned).toEqual([]);
  });

  it('refuses a key marked @revoked, even where another line (hashed or not) pins it', () => {
    const text = hashed([`[127.0.2.1]:2222 ${keys[0].text}`]) + `@revoked * ${keys[0].text}\n` + `[127.0.2.1]:2222 ${keys[1].text}\n`;
    const k = hostKeysFor(parseKnownHosts(text), '[127.0.2.1]:2222');
    expect(k.revoked).toEqual([keys[0].blob]);
    expect(k.pinned).toEqual([keys[1].blob]);
  });

  it('recognises @cert-authority lines and never takes them for a host key', () => {
    const text = `@cert-authority *.example ${keys[2].text}\n`;
    const entries = parseKnownHosts(text);
    expect(entries).toHaveLength(1);
    expect(entries[0].marker).toBe('cert-authority');
    expect(hostKeysFor(entries, 'db.example')).toEqual({ pinned: [], revoked: [], certAuthorities: 1 });
  });

  it('skips comments, blank lines, unknown markers and malformed lines', () => {
    const text = ['# a comment', '', `@unknown host ${keys[0].text}`, 'host-only', `|1|notbase64!|x ${keys[0].text}`, `  host1 ${keys[1].text} a comment`].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => e.patterns)).toEqual([['host1']]);
  });
});
