// Real SSH keys and signatures for tests: ed25519 keys made by ssh-keygen in a temporary directory, decisions
// signed by `ssh-keygen -Y sign` through the CLI's own signing code (scripts/cli/signing.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { signAction } from '../../scripts/cli/signing';
import { statusQuery, type ApprovalPolicy, type DecisionInput, type Signature, type Signer } from '../../workflows/shared';

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
