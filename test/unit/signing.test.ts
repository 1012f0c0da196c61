// Signed decisions without a server: the SSHSIG reader and verifier (workflows/lib/sshsig.ts) against signatures
// made by the real `ssh-keygen -Y sign`, cross-checked with `ssh-keygen -Y verify`, and the signature rules
// (workflows/lib/gates.ts `authenticate`): forged, unsigned, replayed, expired, outsiders', other runs'.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { sshSign } from '../../scripts/cli/signing';
import { authenticate, controlRefusal, type SignatureContext } from '../../workflows/lib/gates';
import { base64Decode, base64Encode, fingerprint, parsePublicKey, parseSshSig, verifySshSig } from '../../workflows/lib/sshsig';
import { canonicalJson, evidenceDigest, signedMessage, type Signature, type SignedFields } from '../../workflows/shared/signing';
import { makeKeys, signedApproval, type TestKey } from '../helpers/signing';

let keys: Record<'alice' | 'bob' | 'mallory', TestKey>;
beforeAll(() => {
  keys = makeKeys('alice', 'bob', 'mallory');
});

function sshKeygen(args: string[], input?: string) {
  return spawnSync('ssh-keygen', args, { input, encoding: 'utf8' });
}

/** What `ssh-keygen -Y verify` says of a signature, with an allowed_signers file listing `who`'s key. */
function opensshVerifies(sig: string, message: string, who: TestKey): boolean {
  const dir = path.dirname(who.file);
  writeFileSync(path.join(dir, 'allowed_signers'), `${who.name} ${who.publicKey}\n`);
  writeFileSync(path.join(dir, 'msg.sig'), `${sig}\n`);
  const r = sshKeygen(['-Y', 'verify', '-f', path.join(dir, 'allowed_signers'), '-I', who.name, '-n', 'cutover', '-s', path.join(dir, 'msg.sig')], message);
  return r.status === 0;
}

describe('SSHSIG (ssh-keygen -Y sign output), read and verified in pure code', () => {
  it('verifies what ssh-keygen signed, as ssh-keygen -Y verify does', async () => {
    const message = signedMessage({ workflowId: 'file-sync-x', runId: 'r1', gate: 'cutover', decision: 'go', by: 'bob', evidence: 'sha256:00', signedAt: '2026-01-01T00:00:00.000Z' });
    const sig = await sshSign(keys.bob.file, message);
    const parsed = parseSshSig(sig);
    expect(parsed.namespace).toBe('cutover');
    expect(parsed.hashAlgorithm).toBe('sha512');
    expect(verifySshSig(parsed, message, 'cutover')).toBe(true);
    expect(opensshVerifies(sig, message, keys.bob)).toBe(true);
    // One character changed: refused here and by OpenSSH alike.
    const tampered = message.replace('"go"', '"no"');
    expect(verifySshSig(parsed, tampered, 'cutover')).toBe(false);
    expect(opensshVerifies(sig, tampered, keys.bob)).toBe(false);
  });

  it('takes sha256 signatures too, and refuses another namespace', () => {
    const dir = path.dirname(keys.alice.file);
    writeFileSync(path.join(dir, 'm'), 'hello');
    const sha256 = sshKeygen(['-q', '-Y', 'sign', '-n', 'cutover', '-O', 'hashalg=sha256', '-f', keys.alice.file], 'hello');
    expect(sha256.status, sha256.stderr).toBe(0);
    const p = parseSshSig(sha256.stdout);
    expect(p.hashAlgorithm).toBe('sha256');
    expect(verifySshSig(p, 'hello', 'cutover')).toBe(true);
    const git = sshKeygen(['-q', '-Y', 'sign', '-n', 'git', '-f', keys.alice.file], 'hello');
    expect(parseSshSig(git.stdout).namespace).toBe('git');
    expect(verifySshSig(parseSshSig(git.stdout), 'hello', 'cutover')).toBe(false);
  });

  it('signs through ssh-agent when the key given is a public key', async () => {
    const sock = path.join(path.dirname(keys.alice.file), 'agent.sock');
    const agent = spawnSync('ssh-agent', ['-a', sock, '-s'], { encoding: 'utf8' });
    expect(agent.status, agent.stderr).toBe(0);
    const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(agent.stdout)![1]);
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      process.env.SSH_AUTH_SOCK = sock;
      expect(spawnSync('ssh-add', ['-q', keys.alice.file], { encoding: 'utf8' }).status).toBe(0);
      const sig = await sshSign(`${keys.alice.file}.pub`, 'through the agent');
      expect(verifySshSig(parseSshSig(sig), 'through the agent', 'cutover')).toBe(true);
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      process.kill(pid);
    }
  });

  it('gives the fingerprint ssh-keygen -l prints', () => {
    const l = sshKeygen(['-l', '-E', 'sha256', '-f', `${keys.alice.file}.pub`]);
    expect(l.stdout.split(' ')[1]).toBe(fingerprint(parsePublicKey(keys.alice.publicKey).blob));
  });

  it('refuses what is not an ed25519 SSH signature, clearly', () => {
    const dir = path.dirname(keys.alice.file);
    const rsa = path.join(dir, 'rsa');
    expect(sshKeygen(['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', rsa]).status).toBe(0);
    const rsaSig = sshKeygen(['-q', '-Y', 'sign', '-n', 'cutover', '-f', rsa], 'x');
    expect(() => parseSshSig(rsaSig.stdout)).toThrow(/only (ssh-)?ed25519/);
    expect(() => parseSshSig('hello')).toThrow(/not an SSH signature/);
    expect(() => parseSshSig('-----BEGIN SSH SIGNATURE-----\nU1NIU0lH!!\n-----END SSH SIGNATURE-----')).toThrow(/base64/);
    expect(() => parsePublicKey('ssh-rsa AAAAB3NzaC1yc2E')).toThrow(/only ssh-ed25519/);
  });

  it('reads and writes base64 strictly', () => {
    for (const s of ['', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar']) {
      const bytes = Uint8Array.from(s, (c) => c.charCodeAt(0));
      const b64 = Buffer.from(s).toString('base64');
      expect(base64Encode(bytes)).toBe(b64);
      expect(Array.from(base64Decode(b64))).toEqual(Array.from(bytes));
    }
    expect(() => base64Decode('Zm9=')).toThrow(/padding bits/);
  });

  it('digests evidence canonically: key order does not matter, values do', () => {
    expect(canonicalJson({ b: 1, a: 'x', c: null })).toBe('{"a":"x","b":1,"c":null}');
    expect(evidenceDigest({ a: 1, b: 'x' })).toBe(evidenceDigest({ b: 'x', a: 1 }));
    expect(evidenceDigest({ a: 1 })).not.toBe(evidenceDigest({ a: 2 }));
    expect(evidenceDigest({ a: 'é' })).toMatch(/^sha256:[0-9a-f]{64}$/);
  });
});

describe('signature rules (authenticate)', () => {
  const now = Date.parse('2026-01-01T12:00:00.000Z');
  const evidence = evidenceDigest({ lagBytes: 0 });
  const ctx = (over: Partial<SignatureContext> = {}): SignatureContext => ({
    workflowId: 'postgres-failover-pg',
    runId: 'run-1',
    nowMs: now,
    approval: { ...signedApproval([keys.alice, keys.bob]), starter: undefined },
    evidenceDigests: [evidence],
    seen: () => false,
    ...over,
  });
  const go = { gate: 'cutover', decision: 'go', by: 'bob', reason: 'lag is fine' };
  type Action = { gate: string | null; decision: string; by: string; reason?: string };
  async function sign(key: TestKey, fields: Partial<SignedFields> = {}, action: Action = go): Promise<Signature> {
    const f: SignedFields = { workflowId: 'postgres-failover-pg', runId: 'run-1', ...action, evidence, signedAt: new Date(now - 5_000).toISOString(), ...fields };
    return { sshsig: await sshSign(key.file, signedMessage(f)), signedAt: f.signedAt, evidence: f.evidence ?? undefined };
  }

  it('accepts a decision signed by the key of the approver it names, and says which key', async () => {
    const r = authenticate(go, await sign(keys.bob), ctx());
    expect(r.why).toBeUndefined();
    expect(r.ok!.fingerprint).toBe(fingerprint(parsePublicKey(keys.bob.publicKey).blob));
    expect(r.ok!.digest).toMatch(/^[0-9a-f]{64}$/);
  });
  it('refuses an unsigned decision', () => {
    expect(authenticate(go, undefined, ctx()).why).toMatch(/unsigned/);
  });
  it('refuses a forged one: bob named, mallory\'s or alice\'s key', async () => {
    expect(authenticate(go, await sign(keys.mallory), ctx()).why).toMatch(/not bob's/);
    expect(authenticate(go, await sign(keys.alice), ctx()).why).toMatch(/not bob's/);
  });
  it('refuses an outsider: no key in the plan', async () => {
    const r = authenticate({ ...go, by: 'mallory' }, await sign(keys.mallory, {}, { ...go, by: 'mallory' }), ctx());
    expect(r.why).toMatch(/mallory has no public key/);
  });
  it('refuses a signature over something else: another decision, reason, run or workflow', async () => {
    const sig = await sign(keys.bob);
    expect(authenticate({ ...go, reason: 'other' }, sig, ctx()).why).toMatch(/does not verify/);
    expect(authenticate({ ...go, decision: 'no-go' }, sig, ctx()).why).toMatch(/does not verify/);
    expect(authenticate(go, sig, ctx({ runId: 'run-2' })).why).toMatch(/does not verify/);
    expect(authenticate(go, sig, ctx({ workflowId: 'postgres-failover-other' })).why).toMatch(/does not verify/);
    expect(authenticate(go, { ...sig, signedAt: new Date(now - 1000).toISOString() }, ctx()).why).toMatch(/does not verify/);
  });
  it('refuses a decision on evidence the gate did not show', async () => {
    const other = evidenceDigest({ lagBytes: 99 });
    expect(authenticate(go, await sign(keys.bob, { evidence: other }), ctx()).why).toMatch(/evidence signed is not what gate "cutover" shows/);
    // A version shown just before a refresh still counts.
    expect(authenticate(go, await sign(keys.bob, { evidence: other }), ctx({ evidenceDigests: [evidence, other] })).why).toBeUndefined();
  });
  it('refuses an expired signature, one from the future, and a replayed one', async () => {
    expect(authenticate(go, await sign(keys.bob, { signedAt: new Date(now - 11 * 60_000).toISOString() }), ctx()).why).toMatch(/expired/);
    expect(authenticate(go, await sign(keys.bob, { signedAt: new Date(now + 5 * 60_000).toISOString() }), ctx()).why).toMatch(/future/);
    const sig = await sign(keys.bob);
    const first = authenticate(go, sig, ctx());
    expect(authenticate(go, sig, ctx({ seen: (d) => d === first.ok!.digest })).why).toMatch(/used already/);
  });
  it('takes aborts, pauses and resumes from the starter and approvers only', async () => {
    const approval = { ...signedApproval([keys.bob], false), starter: keys.alice.signer };
    expect(controlRefusal({ by: 'alice' }, { approval, startedBy: 'alice' })).toBeNull();
    expect(controlRefusal({ by: 'bob' }, { approval, startedBy: 'alice' })).toBeNull();
    expect(controlRefusal({ by: 'mallory' }, { approval, startedBy: 'alice' })).toMatch(/neither started/);
    const abort = { gate: null, decision: 'abort', by: 'alice', reason: 'wrong window' };
    const sig = await sign(keys.alice, { evidence: null }, abort);
    expect(authenticate(abort, sig, ctx({ approval })).why).toBeUndefined();
    // The starter's key counts only for the starter.
    expect(authenticate({ ...abort, by: 'bob' }, sig, ctx({ approval })).why).toMatch(/not bob's/);
  });
});
