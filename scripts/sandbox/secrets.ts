// The sandbox worker's secret store: <stateDir>/secrets, one 0600 file per name (SANDBOX_SECRETS), the
// directory 0700. Workers started for the sandbox get it as CUTOVER_SECRETS_DIR (sandboxWorkerEnv), so sample
// plans, tests, benches and the demo name secrets, as real plans do. `up` copies in what other components made
// (the SSH key cutover logs in with, the TSIG key, the sandbox CA's certificate) on every run, so a regenerated
// key reaches the store; the PostgreSQL passwords are made here in the first place (postgres.ts).
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SANDBOX_SECRETS } from './endpoints';
import type { Layout } from './layout';
import { userIds } from './process';

/** Writes (or replaces) one secret: 0600, owned by the sandbox user like the directory, written atomically. */
export function putSecret(dir: string, name: string, value: string | Buffer): void {
  if (!/^[a-z0-9][a-z0-9._-]*$/.test(name)) throw new Error(`not a secret name: ${JSON.stringify(name)}`);
  const file = path.join(dir, name);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, value, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  try {
    const { uid, gid } = userIds();
    chownSync(tmp, uid, gid);
  } catch {
    /* no sandbox user (unit tests): root keeps it */
  }
  renameSync(tmp, file);
}

export function removeSecret(dir: string, name: string): void {
  rmSync(path.join(dir, name), { force: true });
}

/** The store directory, 0700 and owned by the sandbox user. */
export function ensureStoreDir(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o700);
  try {
    const { uid, gid } = userIds();
    chownSync(dir, uid, gid);
  } catch {
    /* no sandbox user */
  }
}

/** Copies what other components made into the store; returns the names it holds. */
export function ensureSecretStore(l: Layout): { detail: string; note: string } {
  ensureStoreDir(l.secrets);
  const copies: [string, string][] = [
    [SANDBOX_SECRETS.sshIdentity, l.ssh.identity],
    [SANDBOX_SECRETS.tsigKey, l.dns.key],
    [SANDBOX_SECRETS.ca, l.tls.caCert],
  ];
  const changed: string[] = [];
  for (const [name, from] of copies) {
    if (!existsSync(from)) throw new Error(`secret store: ${from} (for secret "${name}") does not exist yet`);
    const value = readFileSync(from);
    const file = path.join(l.secrets, name);
    if (!existsSync(file) || !readFileSync(file).equals(value)) {
      putSecret(l.secrets, name, value);
      changed.push(name);
    }
  }
  for (const name of [SANDBOX_SECRETS.pgSuperuser, SANDBOX_SECRETS.pgReplicator]) chmodSync(path.join(l.secrets, name), 0o600);
  return { detail: `${l.secrets} (${Object.values(SANDBOX_SECRETS).join(', ')})`, note: changed.length ? `updated ${changed.join(', ')}` : 'ready' };
}
