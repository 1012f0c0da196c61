// Gate rules, pure so the update validator (synchronous) and the signal handler share them and unit tests
// can call them without a server.
import {
  SIGNATURE_MAX_AGE_MS,
  SIGNATURE_MAX_CHARS,
  SIGNATURE_MAX_SKEW_MS,
  SIGNING_NAMESPACE,
  sha256Hex,
  signedMessage,
  type Signature,
  type Signer,
} from '../shared/signing';
import { RECOVER_GATE, type ApprovalPolicy, type DecisionInput, type GateState } from '../shared/types';
import { fingerprint, parsePublicKey, parseSshSig, sameBytes, SshSigError, verifySshSig } from './sshsig';

const GATE_DECISIONS = ['go', 'no-go'];
const RECOVER_DECISIONS = ['retry', 'way-back', 'done-by-hand'];

/** Returns why a decision must be refused, or null when it may be applied. */
export function refusalReason(
  input: DecisionInput,
  ctx: {
    openGate: GateState | null;
    approval: ApprovalPolicy;
    startedBy: string;
    finished: boolean;
    /** Whether a way back exists now (past the point of no return, once the move has armed it). */
    wayBack?: boolean;
  },
): string | null {
  if (!input || typeof input !== 'object') return 'a decision needs gate, decision and by';
  const recovering = input.gate === RECOVER_GATE;
  if (!(recovering ? RECOVER_DECISIONS : GATE_DECISIONS).includes(input.decision)) {
    return recovering
      ? `at gate "${RECOVER_GATE}" the decision must be "retry", "way-back" or "done-by-hand", got ${JSON.stringify(input.decision)}`
      : `decision must be "go" or "no-go" (at gate "${RECOVER_GATE}": "retry", "way-back" or "done-by-hand"), got ${JSON.stringify(input.decision)}`;
  }
  if (!input.by || typeof input.by !== 'string') return 'a decision must say who makes it (by)';
  if (ctx.finished) return 'the migration has finished: no gate is open';
  if (!ctx.openGate) return `gate "${input.gate}" is not open: the migration is not waiting at any gate`;
  if (ctx.openGate.name !== input.gate) {
    return `gate "${input.gate}" is not open: the migration is waiting at gate "${ctx.openGate.name}"`;
  }
  const isApprover = ctx.approval.approvers.includes(input.by);
  if (input.decision === 'way-back' && !ctx.wayBack) return 'there is no way back from this step: retry it, or record it done by hand';
  if (input.decision === 'done-by-hand' && !(input.note ?? input.reason)) return 'done-by-hand needs a note saying what was done';
  // Anyone responsible for the run may stop it, retry a step or take the way back; only a listed approver may
  // let it go on (go, or a step recorded done by hand).
  if (input.decision === 'retry' || input.decision === 'way-back') {
    return isApprover || input.by === ctx.startedBy ? null : `${input.by} is not an approver of this migration (approvers: ${ctx.approval.approvers.join(', ')})`;
  }
  if (input.decision === 'no-go') {
    if (!isApprover && input.by !== ctx.startedBy) {
      return `${input.by} is not an approver of this migration (approvers: ${ctx.approval.approvers.join(', ')})`;
    }
    if (!input.reason) return 'a no-go needs a reason';
    return null;
  }
  if (!isApprover) {
    return `${input.by} is not an approver of this migration (approvers: ${ctx.approval.approvers.join(', ')})`;
  }
  if (ctx.approval.requireSecondPerson && input.by === ctx.startedBy) {
    return `${input.by} started this migration and the plan requires a second person to approve it`;
  }
  return null;
}

/** Who may abort, pause or resume a run: its starter and its approvers; nobody else. */
export function controlRefusal(input: { by?: unknown } | null | undefined, ctx: { approval: ApprovalPolicy; startedBy: string }): string | null {
  if (!input || typeof input !== 'object' || !input.by || typeof input.by !== 'string') return 'say who sends it (by)';
  if (input.by === ctx.startedBy || ctx.approval.approvers.includes(input.by)) return null;
  return `${input.by} neither started this migration nor approves it (approvers: ${ctx.approval.approvers.join(', ')}; started by ${ctx.startedBy})`;
}

/** What a signature is checked against: the run, workflow time, the keys, the evidence shown, the replay memory. */
export interface SignatureContext {
  workflowId: string;
  /** The first run's id (the same across continue-as-new). */
  runId: string;
  nowMs: number;
  approval: ApprovalPolicy;
  /** Digests of the evidence the open gate has shown lately (current first): what a gate decision may have signed. */
  evidenceDigests: string[];
  /** Whether a message with this digest was taken already. */
  seen: (digest: string) => boolean;
}

/** A verified signature: whose key (fingerprint), and the signed message's digest for the replay memory. */
export interface Authenticated {
  fingerprint: string;
  digest: string;
  signedAt: string;
  evidence?: string;
}

/**
 * Checks that `action` was signed by the key of the person it names (`by`): the signature verifies over the
 * canonical message (workflow id, first run id, gate, decision, by, reason, note, evidence digest, time), in
 * namespace `cutover`, by the key the plan lists for `by`; not older than the window (workflow time), not
 * reused. For a gate decision the evidence signed must be what the gate has shown. Returns why not, or who.
 */
export function authenticate(
  action: { gate: string | null; decision: string; by: string; reason?: string; note?: string },
  signature: Signature | undefined,
  ctx: SignatureContext,
): { ok: Authenticated; why?: undefined } | { why: string; ok?: undefined } {
  const how = 'sign with `cutover ... --key KEY` (ssh-keygen -Y sign -n cutover)';
  if (!signature || typeof signature !== 'object' || typeof signature.sshsig !== 'string') return { why: `unsigned: decisions must be signed, ${how}` };
  if (signature.sshsig.length > SIGNATURE_MAX_CHARS) return { why: 'the signature is too long to be an ed25519 SSH signature' };
  const signedAtMs = typeof signature.signedAt === 'string' ? Date.parse(signature.signedAt) : NaN;
  if (!Number.isFinite(signedAtMs)) return { why: 'the signature has no valid signedAt time' };
  const age = ctx.nowMs - signedAtMs;
  if (age > SIGNATURE_MAX_AGE_MS) return { why: `the signature expired: signed ${Math.round(age / 1000)} s ago, signatures are taken for ${SIGNATURE_MAX_AGE_MS / 60_000} min` };
  if (-age > SIGNATURE_MAX_SKEW_MS) return { why: `the signature is dated ${Math.round(-age / 1000)} s in the future: check the signer's clock` };
  const signer = signerOf(action.by, ctx.approval);
  if (!signer) return { why: `${action.by} has no public key in this migration's plan` };
  let sig;
  let key;
  try {
    key = parsePublicKey(signer.key);
    sig = parseSshSig(signature.sshsig);
  } catch (err) {
    if (err instanceof SshSigError) return { why: `unreadable signature: ${err.message}` };
    throw err;
  }
  if (!sameBytes(sig.publicKey, key.blob)) {
    return { why: `signed with key ${fingerprint(sig.publicKey)}, which is not ${action.by}'s (${fingerprint(key.blob)})` };
  }
  if (sig.namespace !== SIGNING_NAMESPACE) return { why: `signed for namespace "${sig.namespace}", not "${SIGNING_NAMESPACE}"` };
  const gateDecision = action.gate !== null;
  if (gateDecision && !(typeof signature.evidence === 'string' && ctx.evidenceDigests.includes(signature.evidence))) {
    return { why: `the evidence signed is not what gate "${action.gate}" shows: read the status again and sign what it shows` };
  }
  const message = signedMessage({
    workflowId: ctx.workflowId,
    runId: ctx.runId,
    gate: action.gate,
    decision: action.decision,
    by: action.by,
    reason: action.reason,
    note: action.note,
    evidence: gateDecision ? signature.evidence : null,
    signedAt: signature.signedAt,
  });
  if (!verifySshSig(sig, message, SIGNING_NAMESPACE)) {
    return { why: `the signature does not verify: forged, or signed for another migration, run, gate, decision or reason` };
  }
  const digest = sha256Hex(message);
  if (ctx.seen(digest)) return { why: 'this signature was used already: a decision is signed afresh each time' };
  return { ok: { fingerprint: fingerprint(key.blob), digest, signedAt: signature.signedAt, ...(gateDecision ? { evidence: signature.evidence } : {}) } };
}

/** The key of a person: an approver's from the plan, or the starter's supplied at start. */
export function signerOf(name: string, approval: ApprovalPolicy): Signer | undefined {
  return approval.signers?.find((s) => s.name === name) ?? (approval.starter?.name === name ? approval.starter : undefined);
}
