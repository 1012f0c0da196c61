// known_hosts read as OpenSSH reads it (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"): an optional marker
// (@cert-authority, @revoked), comma-separated host patterns (`*`, `?` wildcards, `!` negation, `[host]:port` for
// other ports than 22) or one hashed name (`|1|salt|hmac`, from `ssh-keygen -H` or HashKnownHosts), the key type,
// the base64 key, a comment. Pure, unit-tested with lines hashed by the real ssh-keygen.
import { createHmac } from 'node:crypto';

export interface KnownHostsEntry {
  marker: 'cert-authority' | 'revoked' | null;
  /** Host patterns, or null for a hashed line. */
  patterns: string[] | null;
  hashed: { salt: Buffer; hash: Buffer } | null;
  keyType: string;
  key: Buffer;
  line: number;
}

/** Every usable line; comments, blank and malformed lines are skipped (OpenSSH skips them too). */
export function parseKnownHosts(text: string): KnownHostsEntry[] {
  const out: KnownHostsEntry[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const fields = raw.trim().split(/[ \t]+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    let marker: KnownHostsEntry['marker'] = null;
    if (fields[0].startsWith('@')) {
      const m = fields.shift()!;
      if (m === '@cert-authority') marker = 'cert-authority';
      else if (m === '@revoked') marker = 'revoked';
      else continue; // an unknown marker: OpenSSH ignores the line
    }
    const [hosts, keyType, blob] = fields;
    if (!hosts || !keyType || !blob || !/^[A-Za-z0-9+/]+={0,2}$/.test(blob)) continue;
    const key = Buffer.from(blob, 'base64');
    if (hosts.startsWith('|')) {
      const m = /^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$/.exec(hosts);
      if (!m) continue;
      out.push({ marker, patterns: null, hashed: { salt: Buffer.from(m[1], 'base64'), hash: Buffer.from(m[2], 'base64') }, keyType, key, line: i + 1 });
    } else {
      out.push({ marker, patterns: hosts.split(',').filter(Boolean), hashed: null, keyType, key, line: i + 1 });
    }
  }
  return out;
}

/** OpenSSH's match_pattern: `*` any run, `?` one character, case-insensitive for host names. */
function globMatch(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(s);
}

/** Does the entry name `spec` ("host" for port 22, "[host]:port" otherwise)? A matching negated pattern wins. */
export function entryMatches(e: KnownHostsEntry, spec: string): boolean {
  if (e.hashed) {
    const h = createHmac('sha1', e.hashed.salt).update(spec.toLowerCase()).digest();
    return h.length === e.hashed.hash.length && h.equals(e.hashed.hash);
  }
  let matched = false;
  for (const p of e.patterns ?? []) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), spec)) return false;
    } else if (globMatch(p, spec)) {
      matched = true;
    }
  }
  return matched;
}

export interface HostKeys {
  /** Host keys pinned for the host (plain lines). */
  pinned: Buffer[];
  /**
   * Keys marked @revoked, whatever host their line names: a revoked key is compromised everywhere (stricter
   * than OpenSSH, which also refuses it, but only for the hosts the line matches).
   */
  revoked: Buffer[];
  /** @cert-authority lines for the host: recognised, never taken for a host key (certificates are not supported). */
  certAuthorities: number;
}

export function hostKeysFor(entries: KnownHostsEntry[], spec: string): HostKeys {
  const revoked = entries.filter((e) => e.marker === 'revoked').map((e) => e.key);
  const matching = entries.filter((e) => e.marker !== 'revoked' && entryMatches(e, spec));
  return {
    pinned: matching.filter((e) => e.marker === null && !revoked.some((r) => r.equals(e.key))).map((e) => e.key),
    revoked,
    certAuthorities: matching.filter((e) => e.marker === 'cert-authority').length,
  };
}
