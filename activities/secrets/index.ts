// The worker's secret store. Plans name secrets (`{ secret: "pg-replication" }`); only the worker knows where
// they are, configured by whoever runs it:
//   CUTOVER_SECRETS_DIR  a directory with one file per name (mode 0600 or stricter: a file group or others may
//                        read is refused, and so is a directory others may write to)
//   CUTOVER_SECRET_ENV   an allow-list of environment variables, "name=VAR,name2=VAR2"
// A name in the allow-list is read from its variable; any other name from the directory. So a plan can neither
// point the worker at an arbitrary file (the GCP credentials) nor at an arbitrary variable (TEMPORAL_API_KEY).
// Values are read at the moment they are used and never travel through workflow inputs, results or history;
// errors name the secret and what it was for, never a value.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { SECRET_NAME_PATTERN, type SecretRef } from '../../workflows/shared/types';

/** A secret the worker cannot use: retrying does not help until someone fixes the store. */
export class SecretError extends Error {}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function secretNameProblem(name: unknown): string | null {
  if (typeof name !== 'string' || !SECRET_NAME_PATTERN.test(name)) {
    return `expected a secret name (a-z, 0-9, . _ -, starting with a letter or digit, no path separators), got ${JSON.stringify(name)}`;
  }
  return null;
}

export interface SecretStoreConfig {
  /** CUTOVER_SECRETS_DIR. */
  dir?: string;
  /** CUTOVER_SECRET_ENV: secret name → environment variable. */
  env: Record<string, string>;
}

/** The store as the worker's environment configures it; a malformed setting is a SecretError. */
export function secretStoreConfig(env: NodeJS.ProcessEnv = process.env): SecretStoreConfig {
  const config: SecretStoreConfig = { env: {} };
  const dir = env.CUTOVER_SECRETS_DIR?.trim();
  if (dir) {
    if (!path.isAbsolute(dir)) throw new SecretError(`CUTOVER_SECRETS_DIR must be an absolute path, got ${JSON.stringify(dir)}`);
    config.dir = dir;
  }
  for (const entry of (env.CUTOVER_SECRET_ENV ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const [name, variable, ...rest] = entry.split('=');
    if (rest.length || variable === undefined || secretNameProblem(name) || !ENV_NAME.test(variable)) {
      throw new SecretError(`CUTOVER_SECRET_ENV: expected name=VARIABLE entries separated by commas, got ${JSON.stringify(entry)}`);
    }
    if (Object.hasOwn(config.env, name)) throw new SecretError(`CUTOVER_SECRET_ENV: secret "${name}" is listed twice`);
    config.env[name] = variable;
  }
  return config;
}

/** How the worker's store is set up, for its start-up line and `cutover setup` (no values). */
export function describeStore(config: SecretStoreConfig): string {
  const parts = [];
  if (config.dir) parts.push(`directory ${config.dir}`);
  const names = Object.keys(config.env);
  if (names.length) parts.push(`environment (${names.map((n) => `${n}=${config.env[n]}`).join(', ')})`);
  return parts.length ? parts.join(' and ') : 'empty (set CUTOVER_SECRETS_DIR and/or CUTOVER_SECRET_ENV)';
}

export function describeSecret(ref: SecretRef): string {
  return `secret "${ref.secret}"`;
}

/** The ref's name, checked: also refuses the old forms ({file}, {env}) a run started around the plan may carry. */
function nameOf(ref: SecretRef, what: string): string {
  const r = ref as unknown as Record<string, unknown>;
  if (r && typeof r === 'object' && ('file' in r || 'env' in r)) {
    throw new SecretError(`${what}: secrets are named now, not located: write { secret: NAME } and put NAME in the worker's secret store`);
  }
  const why = secretNameProblem(r?.secret);
  if (why) throw new SecretError(`${what}: ${why}`);
  return r.secret as string;
}

/** The secret's bytes, exactly as stored. */
export async function readSecretBytes(ref: SecretRef, what: string, config: SecretStoreConfig = secretStoreConfig()): Promise<Buffer> {
  const name = nameOf(ref, what);
  const variable = config.env[name];
  if (variable !== undefined) {
    const value = process.env[variable];
    if (!value) throw new SecretError(`${what}: secret "${name}" is mapped to environment variable ${variable}, which is not set on the worker`);
    return Buffer.from(value, 'utf8');
  }
  if (!config.dir) {
    throw new SecretError(`${what}: secret "${name}" is not in the worker's secret store (${describeStore(config)})`);
  }
  const dirStat = await stat(config.dir).catch(() => null);
  if (!dirStat?.isDirectory()) throw new SecretError(`${what}: the worker's secret store ${config.dir} (CUTOVER_SECRETS_DIR) is not a directory`);
  if (dirStat.mode & 0o022) {
    throw new SecretError(`${what}: the worker's secret store ${config.dir} may be written by group or others (mode ${mode(dirStat.mode)}): chmod 700 it`);
  }
  const file = path.join(config.dir, name);
  let handle;
  try {
    handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new SecretError(`${what}: secret "${name}" is not in the worker's secret store (${describeStore(config)})`);
    throw new SecretError(`${what}: cannot read secret "${name}" from ${file} (${code ?? 'error'})`);
  }
  try {
    // Checked on the open file: what is read is what was checked.
    const st = await handle.stat();
    if (!st.isFile()) throw new SecretError(`${what}: secret "${name}" (${file}) is not a regular file`);
    if (st.mode & 0o077) {
      throw new SecretError(`${what}: secret "${name}" (${file}) is open to group or others (mode ${mode(st.mode)}): refusing it; chmod 600 it`);
    }
    const bytes = await handle.readFile();
    if (bytes.length === 0) throw new SecretError(`${what}: secret "${name}" (${file}) is empty`);
    return bytes;
  } finally {
    await handle.close();
  }
}

const mode = (m: number) => `0${(m & 0o777).toString(8)}`;

/** A password or token: the stored text without one trailing newline. */
export async function readSecret(ref: SecretRef, what: string, config?: SecretStoreConfig): Promise<string> {
  const value = (await readSecretBytes(ref, what, config)).toString('utf8').replace(/\r?\n$/, '');
  if (!value) throw new SecretError(`${what}: ${describeSecret(ref)} is empty`);
  return value;
}

/** True for `{ secret: ... }` (and the old forms, so they are found and refused). */
export function isSecretRef(v: unknown): v is SecretRef {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && ['secret', 'file', 'env'].includes(keys[0]) && typeof (v as Record<string, unknown>)[keys[0]] === 'string';
}

/** Every secret reference in a value, with its field path ("hosts.dc1.identity"). */
export function secretRefsIn(value: unknown, field = 'input', depth = 0, out: [string, SecretRef][] = []): [string, SecretRef][] {
  if (depth > 12 || value === null || typeof value !== 'object') return out;
  if (isSecretRef(value)) {
    out.push([field, value]);
    return out;
  }
  for (const [k, v] of Object.entries(value)) secretRefsIn(v, Array.isArray(value) ? `${field}[${k}]` : `${field}.${k}`, depth + 1, out);
  return out;
}

/**
 * What preflight reports about the secrets a run names: each one missing, unreadable or open to others, by field
 * and name (one line per secret, however many fields name it). Nothing is returned or logged of a value.
 */
export async function secretProblems(refs: Record<string, SecretRef>, config?: SecretStoreConfig): Promise<string[]> {
  const problems: string[] = [];
  let cfg = config;
  try {
    cfg ??= secretStoreConfig();
  } catch (err) {
    return [(err as Error).message];
  }
  const seen = new Set<string>();
  for (const [field, ref] of Object.entries(refs)) {
    const key = JSON.stringify(ref);
    if (seen.has(key)) continue;
    seen.add(key);
    try {
      await readSecretBytes(ref, field, cfg);
    } catch (err) {
      if (!(err instanceof SecretError)) throw err;
      problems.push(err.message);
    }
  }
  return problems;
}

/**
 * For a tool that reads a secret from a file (nsupdate -k, ssh -i): a private copy in a fresh 0700 directory,
 * mode 0600, removed when `fn` settles whatever happens.
 */
export async function withSecretFile<T>(ref: SecretRef, what: string, fn: (file: string, value: Buffer) => Promise<T>): Promise<T> {
  const bytes = await readSecretBytes(ref, what);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cutover-secret-'));
  try {
    const file = path.join(dir, randomBytes(6).toString('hex'));
    await writeFile(file, bytes, { mode: 0o600, flag: 'wx' });
    return await fn(file, bytes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Output of a tool that was given a secret, safe to show. Some tools echo what they read (nsupdate quotes the start
 * of a key it cannot parse), and may cut it anywhere: every line that shares 8 characters in a row with the
 * secret is withheld whole.
 */
export function scrubSecret(text: string, secret: Buffer | string): string {
  const value = secret.toString();
  const windows = new Set<string>();
  for (let i = 0; i + 8 <= value.length; i++) windows.add(value.slice(i, i + 8));
  const quotes = (line: string) => {
    for (let i = 0; i + 8 <= line.length; i++) if (windows.has(line.slice(i, i + 8))) return true;
    return value.length < 8 && value.length > 0 && line.includes(value);
  };
  return text
    .split('\n')
    .map((line) => (quotes(line) ? '[line withheld: it quotes the secret]' : line))
    .join('\n');
}
