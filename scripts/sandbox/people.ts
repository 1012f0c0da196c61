// The sandbox's people: alice (who starts the demo's moves) and bob (who approves them), each with an ed25519
// key of their own under <state>/people/<name>/id_ed25519, made once. Sample plans list their public keys as
// approvers (allowed_signers lines) and the demo, benchmarks and tests sign their decisions with them, the way
// people sign with their own keys: `cutover approve ... --as bob --key <state>/people/bob/id_ed25519`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

export const PEOPLE = ['alice', 'bob'] as const;
export type Person = (typeof PEOPLE)[number];

export function personKeyFile(stateDir: string, name: string): string {
  return path.join(stateDir, 'people', name, 'id_ed25519');
}

/** Makes the key of `name` if it is missing (safe when several processes ask at once); returns its file. */
export function ensurePersonKey(stateDir: string, name: string): string {
  const file = personKeyFile(stateDir, name);
  if (existsSync(file) && existsSync(`${file}.pub`)) return file;
  const parent = path.join(stateDir, 'people');
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  // Made aside, then renamed into place whole: another process never sees half a key pair.
  const tmp = mkdtempSync(path.join(parent, `.${name}-`));
  const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@cutover-sandbox`, '-f', path.join(tmp, 'id_ed25519')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ssh-keygen for ${name} failed: ${r.stderr || r.error?.message}`);
  try {
    renameSync(tmp, path.dirname(file));
  } catch (err) {
    if (!existsSync(`${file}.pub`)) throw err; // someone else's rename won: keep theirs
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return file;
}

/** Every sandbox person's key file, made if missing: for `Services.signingKeys`. */
export function sandboxSigningKeys(stateDir: string): Record<string, string> {
  return Object.fromEntries(PEOPLE.map((p) => [p, ensurePersonKey(stateDir, p)]));
}

/** `name ssh-ed25519 AAAA...`: the person as an approver line in a plan (allowed_signers form). */
export function approverLine(stateDir: string, name: string): string {
  const pub = readFileSync(`${ensurePersonKey(stateDir, name)}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  return `${name} ${pub}`;
}
