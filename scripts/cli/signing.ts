// Signing on the decider's side: the CLI builds the canonical message (workflows/shared/signing.ts) and has
// OpenSSH sign it, `ssh-keygen -Y sign -n cutover -f KEY`, so people sign with the keys and the ssh-agent they
// already have: KEY may be a private key file, or a public key whose private half the agent holds.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { evidenceDigest, signedMessage, SIGNING_NAMESPACE, type Evidence, type MigrationStatus, type Signature } from '../../workflows/shared';
import { UserError } from './errors';

/** --key, else $CUTOVER_SIGNING_KEY, else ~/.ssh/id_ed25519. */
export function defaultSigningKey(): string {
  return process.env.CUTOVER_SIGNING_KEY || path.join(os.homedir(), '.ssh', 'id_ed25519');
}

function run(cmd: string, args: string[], input: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input);
  });
}

/** `message` signed by `keyFile` in namespace cutover: the armored SSHSIG. */
export async function sshSign(keyFile: string, message: string): Promise<string> {
  if (!existsSync(keyFile)) throw new UserError(`signing key ${keyFile} not found: pass --key PATH (a private key, or a public key held by ssh-agent) or set CUTOVER_SIGNING_KEY`);
  const r = await run('ssh-keygen', ['-q', '-Y', 'sign', '-n', SIGNING_NAMESPACE, '-f', keyFile], message).catch((err: Error) => {
    throw new UserError(`cannot run ssh-keygen to sign: ${err.message} (install OpenSSH's client tools)`);
  });
  if (r.code !== 0 || !r.stdout.includes('BEGIN SSH SIGNATURE')) {
    const agent = keyFile.endsWith('.pub') ? ' (a .pub key signs through ssh-agent: is the agent running with that key added?)' : '';
    throw new UserError(`ssh-keygen could not sign with ${keyFile}${agent}: ${r.stderr.trim() || `exit ${r.code}`}`);
  }
  return r.stdout.trim();
}

/** The public key line (`ssh-ed25519 AAAA...`) of a key file: the file itself if .pub, else KEY.pub, else derived by ssh-keygen -y. */
export async function publicKeyOf(keyFile: string): Promise<string> {
  const line = (text: string) => text.trim().split(/\s+/).slice(0, 2).join(' ');
  if (keyFile.endsWith('.pub') && existsSync(keyFile)) return line(readFileSync(keyFile, 'utf8'));
  if (existsSync(`${keyFile}.pub`)) return line(readFileSync(`${keyFile}.pub`, 'utf8'));
  if (!existsSync(keyFile)) throw new UserError(`key ${keyFile} not found: pass --key PATH or set CUTOVER_SIGNING_KEY`);
  const r = await run('ssh-keygen', ['-y', '-f', keyFile], '');
  if (r.code !== 0) throw new UserError(`cannot read the public key of ${keyFile}: ${r.stderr.trim()}`);
  return line(r.stdout);
}

/** What the person signs for an action on a run, as its status shows the run (signing: workflow id, first run id). */
export async function signAction(
  status: MigrationStatus,
  action: { gate: string | null; decision: string; by: string; reason?: string; note?: string },
  keyFile: string,
): Promise<Signature | undefined> {
  // Runs begun before decisions were signed take them unsigned, as they did.
  if (!status.signing) return undefined;
  const shown: Evidence | undefined = action.gate !== null && status.gate?.name === action.gate ? status.gate.evidence : undefined;
  const signedAt = new Date().toISOString();
  const evidence = shown ? evidenceDigest(shown) : action.gate !== null ? 'sha256:none' : undefined;
  const message = signedMessage({
    workflowId: status.signing.workflowId,
    runId: status.signing.runId,
    gate: action.gate,
    decision: action.decision,
    by: action.by,
    reason: action.reason,
    note: action.note,
    evidence,
    signedAt,
  });
  return { sshsig: await sshSign(keyFile, message), signedAt, ...(evidence ? { evidence } : {}) };
}
