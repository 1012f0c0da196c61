// Field schemas shared by every plan kind (zod): durations, sizes, paths, hosts, gates, approvals, artifacts.
// They refuse what could destroy or inject before anything runs: paths that are relative, not normalised or a
// system directory; user and host values that are not plain names (an ssh option such as -oProxyCommand=...);
// addresses, DNS names and TTLs that nsupdate or BIND would refuse (so a switch cannot fail after the point of
// no return); control characters that would add lines to a script; zero timeouts and thresholds that mean "never".
import { z } from 'zod';
import { parsePublicKey, SshSigError } from '../../workflows/lib/sshsig';
import { SIGNING_NAMESPACE, type Signer } from '../../workflows/shared/signing';
import { SECRET_NAME_PATTERN, type ApprovalPolicy, type GatePolicy, type SecretRef } from '../../workflows/shared/types';
import { parseDuration, parseSize } from './units';

export const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === null) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as "30s", "15m" or "2h", got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  });

export const size = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const bytes = parseSize(v);
    if (bytes === null) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 1048576, "512KiB" or "1MiB", got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return bytes;
  });

/** A duration that must end: zero would mean "at once" where "never" was meant, or a busy loop. */
export const positiveDuration = duration.refine((ms) => ms > 0, 'expected a duration above zero');

/** Text that ends up in a script or a config file: one line, no control characters. */
export const plainText = z.string().min(1).refine((v) => !/[\x00-\x1f\x7f]/.test(v), 'control characters (newlines, escapes) are not allowed');

/**
 * Directories that are never a move's source or target, nor anything cutover may remove: the system's own.
 * Deeper paths inside most of them are fine (/var/lib/postgresql/15/main, /srv/assets).
 */
export const SYSTEM_DIRECTORIES = new Set([
  '/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib32', '/lib64', '/media', '/mnt', '/opt', '/proc', '/root', '/run', '/sbin', '/srv',
  '/sys', '/tmp', '/usr', '/var', '/usr/bin', '/usr/lib', '/usr/lib64', '/usr/local', '/usr/sbin', '/usr/share', '/usr/include', '/usr/src',
  '/usr/local/bin', '/usr/local/lib', '/usr/local/sbin', '/usr/local/share', '/var/lib', '/var/log', '/var/cache', '/var/spool', '/var/tmp',
  '/var/run', '/var/mail', '/var/backups', '/var/opt', '/etc/ssl', '/etc/ssh', '/var/lib/postgresql', '/var/lib/redis',
]);
const PSEUDO_FILESYSTEMS = ['/proc/', '/sys/', '/dev/'];

/** Why an absolute path may not be used, or null: not absolute, `.`/`..` segments, too shallow, or a system directory. */
export function pathProblem(p: string): string | null {
  if (!p.startsWith('/')) return 'expected an absolute path';
  if (/[\x00-\x1f\x7f]/.test(p)) return 'control characters are not allowed in a path';
  const segments = p.split('/').filter(Boolean);
  if (segments.some((s) => s === '.' || s === '..')) return 'expected a normalised path: no "." or ".." segments';
  if (p.includes('//')) return 'expected a normalised path: no empty segments ("//")';
  if (segments.length < 2) return 'expected a path at least two levels deep (a top-level directory is the system\'s)';
  const clean = normalisePath(p);
  if (SYSTEM_DIRECTORIES.has(clean)) return `${clean} is a system directory`;
  if (PSEUDO_FILESYSTEMS.some((d) => clean.startsWith(d))) return `${clean} is on a kernel pseudo-filesystem`;
  return null;
}

/** Without a trailing slash: "/srv/assets/" and "/srv/assets" are the same directory. */
export function normalisePath(p: string): string {
  return p.length > 1 ? p.replace(/\/+$/, '') : p;
}

/** A file or directory path on a host: absolute, normalised, not a system directory; a trailing slash is dropped. */
export const absolutePath = z
  .string()
  .min(1)
  .superRefine((p, ctx) => {
    const why = pathProblem(p);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  })
  .transform(normalisePath);

/** True when one directory is the other or contains it (after normalising). */
export function pathsOverlap(a: string, b: string): boolean {
  const x = `${normalisePath(a)}/`;
  const y = `${normalisePath(b)}/`;
  return x.startsWith(y) || y.startsWith(x);
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]\\d|\\d)';
const IPV4 = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);
/** Dotted quad, each part 0-255 without leading zeros (10.2.0.07 reads as octal to some tools). */
export const ipv4 = z.string().regex(IPV4, 'expected an IPv4 address such as 10.2.0.7 (four numbers 0-255, no leading zeros)');

const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DNS_NAME = new RegExp(`^(?=.{1,253}$)${LABEL}(?:\\.${LABEL})*$`);
/** A DNS name as BIND takes it in an update: letters, digits and hyphens per label, no trailing dot. */
export const dnsName = z
  .string()
  .min(1)
  .superRefine((v, ctx) => {
    if (v.endsWith('.')) ctx.addIssue({ code: 'custom', message: `write the name without the trailing dot: ${JSON.stringify(v.replace(/\.+$/, ''))}` });
    else if (!DNS_NAME.test(v)) ctx.addIssue({ code: 'custom', message: 'expected a DNS name: labels of letters, digits and "-" (at most 63 each, 253 in all), separated by dots' });
  });

/** TTL of a record: RFC 2181 allows 0 to 2^31 - 1 seconds. */
export const ttl = z.number().int().min(0).max(2 ** 31 - 1, 'expected a TTL of at most 2147483647 s (RFC 2181)');

export const person = z.string().regex(/^[A-Za-z0-9._@][A-Za-z0-9._@-]*$/, 'expected a user name (letters, digits, . _ @ -, not starting with -)');

/** An SSH login name: a plain POSIX user name, never something ssh could read as an option. */
const loginName = z.string().regex(/^[a-z_][a-z0-9_.-]{0,31}$/, 'expected a plain user name (a-z, 0-9, _ . -, starting with a letter or _)');
/** An SSH host: an IPv4 address or a DNS name, never something ssh could read as an option. */
const hostAddress = z.string().refine((v) => IPV4.test(v) || DNS_NAME.test(v), 'expected an IPv4 address or a DNS name');

/**
 * A secret, by name in the worker's secret store: `{ secret: pg-replication }`. Every secret a plan needs
 * (passwords, SSH identities, TSIG keys, tokens, webhook URLs) is written so; the worker resolves the name in
 * the store its operator set up (CUTOVER_SECRETS_DIR, CUTOVER_SECRET_ENV), so a plan can never point the worker
 * at a file or variable of its choosing, and never holds a secret itself.
 */
export const secretRef = z.unknown().transform((v, ctx): SecretRef => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  const hint = "a name in the worker's secret store (see `cutover setup`)";
  if (typeof v === 'string') return fail(`expected { secret: NAME }, ${hint}; never the secret itself`);
  if (!v || typeof v !== 'object' || Array.isArray(v)) return fail(`expected { secret: NAME }, ${hint}`);
  const o = v as Record<string, unknown>;
  if ('file' in o || 'env' in o) {
    return fail(`secrets are named, not located: write { secret: NAME } and put the ${'file' in o ? 'file' : 'variable'} in the worker's secret store as NAME`);
  }
  const extra = Object.keys(o).filter((k) => k !== 'secret');
  if (extra.length) return fail(`expected only { secret: NAME }, got also ${extra.join(', ')}`);
  if (typeof o.secret !== 'string' || !SECRET_NAME_PATTERN.test(o.secret)) {
    return fail(`expected a secret name (a-z, 0-9, . _ -, starting with a letter or digit, no path separators), got ${JSON.stringify(o.secret)}`);
  }
  return { secret: o.secret };
});

/**
 * A field of an older plan form, refused with what to write instead (`passwordFile` → `password: { secret: ... }`):
 * present only so its error says more than "unrecognized key".
 */
export function formerField(instead: string) {
  return z
    .unknown()
    .optional()
    .superRefine((v, ctx) => {
      if (v !== undefined) ctx.addIssue({ code: 'custom', message: `no longer accepted: ${instead}` });
    });
}

/** passwordFile / passwordEnv of older plans: refused, saying what to write. */
export const formerPasswordFields = {
  passwordFile: formerField("write password: { secret: NAME } and put the file in the worker's secret store (CUTOVER_SECRETS_DIR) as NAME"),
  passwordEnv: formerField("write password: { secret: NAME } and allow the variable in the worker's CUTOVER_SECRET_ENV as NAME=VARIABLE"),
};

export const hostSchema = z.strictObject({
  address: hostAddress,
  port: z.number().int().min(1).max(65535).default(22),
  user: loginName,
  identity: secretRef.describe("the SSH private key, by name in the worker's secret store"),
  identityFile: formerField("write identity: { secret: NAME } and put the key in the worker's secret store as NAME"),
  knownHostsFile: absolutePath.describe('known_hosts file pinning the host key'),
});

export const gateSchema = z
  .strictObject({
    timeout: positiveDuration.optional(),
    onTimeout: z.enum(['rollback', 'wait']).default('wait'),
  })
  .default({ onTimeout: 'wait' });

/**
 * One approver as an `allowed_signers` line, the form git uses for SSH signatures:
 * `alice [namespaces="cutover"] ssh-ed25519 AAAA... [comment]`. Decisions are signed (ssh-keygen -Y sign -n
 * cutover), so every approver comes with the public key their decisions are checked against. Only ed25519 keys;
 * `namespaces`, when given, must allow cutover; certificates (`cert-authority`) and validity limits
 * (`valid-after`, `valid-before`) are refused rather than ignored.
 */
export function parseApproverLine(line: string): { signer: Signer } | { problem: string } {
  const text = line.trim();
  const principal = text.split(/\s+/, 1)[0];
  if (text === principal) {
    return { problem: `${JSON.stringify(line)} has no public key: decisions are signed, so write each approver as an allowed_signers line, "${principal} ssh-ed25519 AAAA..." (their ~/.ssh/id_ed25519.pub)` };
  }
  if (!person.safeParse(principal).success) return { problem: `${JSON.stringify(principal)}: expected one plain user name (letters, digits, . _ @ -), not a pattern or a list` };
  let rest = text.slice(principal.length).trimStart();
  if (!/^(ssh-|sk-|ecdsa-)/.test(rest)) {
    // Options: comma-separated, quoted values may hold commas; they end at the first space outside quotes.
    const m = /^((?:[^\s"]|"[^"]*")+)\s+/.exec(rest);
    if (!m) return { problem: `${principal}: expected options then a public key ("ssh-ed25519 AAAA...")` };
    rest = rest.slice(m[0].length);
    for (const option of m[1].match(/(?:[^,"]|"[^"]*")+/g) ?? []) {
      const [name, value] = option.split(/=(.*)/s);
      if (name.toLowerCase() === 'namespaces') {
        const allowed = (value ?? '').replace(/^"|"$/g, '').split(',');
        if (!allowed.includes(SIGNING_NAMESPACE)) return { problem: `${principal}: namespaces=${value} does not allow "${SIGNING_NAMESPACE}"` };
      } else if (name.toLowerCase() === 'cert-authority') {
        return { problem: `${principal}: certificate authorities are not supported: list the person's own key` };
      } else {
        return { problem: `${principal}: option ${name} is not supported (only namespaces)` };
      }
    }
  }
  try {
    const key = parsePublicKey(rest);
    return { signer: { name: principal, key: `${key.type} ${rest.split(/\s+/)[1]}` } };
  } catch (err) {
    if (err instanceof SshSigError) return { problem: `${principal}: ${err.message}` };
    throw err;
  }
}

const approverLine = z.string().transform((line, ctx) => {
  const r = parseApproverLine(line);
  if ('problem' in r) {
    ctx.addIssue({ code: 'custom', message: r.problem });
    return z.NEVER;
  }
  return r.signer;
});

export const approvalSchema = z
  .strictObject({
    approvers: z
      .array(approverLine)
      .min(1, 'name at least one approver')
      .refine((a) => new Set(a.map((s) => s.name)).size === a.length, 'an approver is listed twice')
      // One key under two names would let a starter approve their own migration as "someone else".
      .refine((a) => new Set(a.map((s) => s.key)).size === a.length, 'two approvers have the same key: each person signs with their own'),
    requireSecondPerson: z.boolean().default(true),
  })
  .transform((a): ApprovalPolicy => ({ approvers: a.approvers.map((s) => s.name), signers: a.approvers, requireSecondPerson: a.requireSecondPerson }));

/**
 * Who started a run must leave someone else able to approve it: with requireSecondPerson a starter who is the
 * only approver could never get a go.
 */
export function approvalProblem(approval: { approvers: string[]; requireSecondPerson: boolean }, startedBy: string): string | null {
  if (approval.requireSecondPerson && approval.approvers.every((a) => a === startedBy)) {
    return `approval.approvers: ${startedBy} is the only approver and starts the run, but requireSecondPerson needs someone else to approve`;
  }
  return null;
}

/** DNS fields every move's traffic switch shares. */
export const dnsFields = {
  server: ipv4,
  port: z.number().int().min(1).max(65535).default(53),
  zone: dnsName,
  tsigKey: secretRef.describe("TSIG key (tsig-keygen output) for dynamic updates, by name in the worker's secret store"),
  tsigKeyFile: formerField("write tsigKey: { secret: NAME } and put the key file in the worker's secret store as NAME"),
  name: dnsName,
  ttl: ttl.default(30),
};

/** The switched name must be inside the zone the update is sent for. */
export function dnsProblems(dns: { zone?: unknown; name?: unknown } | undefined, path: string[]): { path: string[]; message: string }[] {
  if (typeof dns?.zone !== 'string' || typeof dns.name !== 'string') return [];
  const zone = dns.zone.toLowerCase();
  const name = dns.name.toLowerCase();
  if (name === zone || name.endsWith(`.${zone}`)) return [];
  return [{ path: [...path, 'name'], message: `${dns.name} is not inside zone ${dns.zone}` }];
}

export const artifactsSchema = z.strictObject({
  bucket: z.string().regex(/^[a-z0-9][a-z0-9._-]{1,221}[a-z0-9]$/, 'expected a GCS bucket name'),
  prefix: z.string().default('reports'),
});

export function gatePolicy(g: { timeout?: number; onTimeout: 'rollback' | 'wait' }): GatePolicy {
  return { timeoutMs: g.timeout, onTimeout: g.onTimeout };
}

/** An environment variable name (a secret's reference, never the secret). */
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');

