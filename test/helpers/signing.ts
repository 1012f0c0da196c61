// Real SSH keys and signatures for tests: ed25519 keys made by ssh-keygen in a temporary directory, decisions
// signed by `ssh-keygen -Y sign` through the CLI's own signing code (scripts/cli/signing.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { WorkflowUpdateFailedError, type WorkflowHandle } from '@temporalio/client';
import { signAction } from '../../scripts/cli/signing';
import {
  abortSignal,
  decideUpdate,
  pauseSignal,
  resumeSignal,
  statusQuery,
  type ApprovalPolicy,
  type DecisionInput,
  type DecisionRecord,
  type Signature,
  type Signer,
} from '../../workflows/shared';

export interface TestKey {
  name: string;
  /** Private key file. */
  file: string;
  /** `ssh-ed25519 AAAA...` */
  publicKey: string;
  signer: Signer;
}

/** ed25519 keys for `names` in a new temporary directory. */
export function makeKeys<N extends string>(...names: N[]): Record<N, TestKey> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-keys-'));
  const out = {} as Record<N, TestKey>;
  for (const name of names) {
    const file = path.join(dir, name);
    const r = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${name}@test`, '-f', file], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
    const publicKey = readFileSync(`${file}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    out[name] = { name, file, publicKey, signer: { name, key: publicKey } };
  }
  return out;
}

/** An approval policy whose approvers sign with these keys. */
export function signedApproval(approvers: TestKey[], requireSecondPerson = true): ApprovalPolicy {
  return { approvers: approvers.map((k) => k.name), signers: approvers.map((k) => k.signer), requireSecondPerson };
}

/** A decision signed with `key` as the run's status shows it now (what `cutover approve --key` does). */
export async function signed(h: WorkflowHandle, d: Omit<DecisionInput, 'signature'>, key: TestKey): Promise<DecisionInput> {
  const status = await h.query(statusQuery);
  const signature = await signAction(status, { gate: d.gate, decision: d.decision, by: d.by, reason: d.reason, note: d.note }, key.file);
  return { ...d, ...(signature ? { signature } : {}) };
}

/** An abort, pause or resume signed with `key`. */
export async function signedControl(h: WorkflowHandle, action: 'abort' | 'pause' | 'resume', by: string, key: TestKey, reason?: string): Promise<{ by: string; reason?: string; signature?: Signature }> {
  const status = await h.query(statusQuery);
  const signature = await signAction(status, { gate: null, decision: action, by, reason }, key.file);
  return { by, ...(reason ? { reason } : {}), ...(signature ? { signature } : {}) };
}

let keyring: Record<'alice' | 'bob' | 'carol' | 'mallory', TestKey> | undefined;
/** The people of the workflow tests, with keys made once per test process: alice and bob approve, carol and mallory do not. */
export function people(): Record<'alice' | 'bob' | 'carol' | 'mallory', TestKey> {
  return (keyring ??= makeKeys('alice', 'bob', 'carol', 'mallory'));
}

/** Key of a test person by name. */
export function keyOf(name: string): TestKey {
  const k = (people() as Record<string, TestKey>)[name];
  if (!k) throw new Error(`no test key for ${name}`);
  return k;
}

/**
 * A decision through the update, signed by `by`'s key. Evidence refreshed between reading and deciding (tests
 * refresh it every 100 ms) makes the workflow refuse what was signed: then read, sign and send again, as a person would.
 */
export async function decideSigned(h: WorkflowHandle, d: Omit<DecisionInput, 'signature'>, key: TestKey = keyOf(d.by)): Promise<DecisionRecord> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await h.executeUpdate(decideUpdate, { args: [await signed(h, d, key)] });
    } catch (err) {
      const why = err instanceof WorkflowUpdateFailedError ? (err.cause as Error | undefined)?.message ?? '' : '';
      if (attempt >= 10 || !/evidence signed is not what/.test(why)) throw err;
    }
  }
}

/** Abort, pause or resume by signal, signed by `by`'s key. */
export async function sendSigned(h: WorkflowHandle, action: 'abort' | 'pause' | 'resume', by: string, reason?: string, key: TestKey = keyOf(by)): Promise<void> {
  const payload = await signedControl(h, action, by, key, reason);
  if (action === 'abort') await h.signal(abortSignal, { ...payload, reason: reason ?? '' });
  else await h.signal(action === 'pause' ? pauseSignal : resumeSignal, payload);
}
