// What a signed decision signs: one canonical message, built by the same code in the CLI (which signs it with
// `ssh-keygen -Y sign -n cutover`) and in the workflow (which verifies it, workflows/lib/sshsig.ts). Pure code:
// SHA-256 from @noble/hashes, no Node built-ins, so it runs in the workflow sandbox and the CLI alike.
import { sha256 } from '@noble/hashes/sha2';

/** Gate evidence as types.ts defines it (spelled out here: types.ts imports this file's Signature and Signer). */
type Evidence = Record<string, string | number | boolean | null>;

/** The SSHSIG namespace (`ssh-keygen -Y sign -n cutover`): a signature made for git or another tool never counts. */
export const SIGNING_NAMESPACE = 'cutover';
/** A signature older than this (by workflow time) is refused: a captured one cannot be played back later. */
export const SIGNATURE_MAX_AGE_MS = 10 * 60_000;
/** How far ahead of workflow time a signature may claim to be (the signer's clock may run a little fast). */
export const SIGNATURE_MAX_SKEW_MS = 2 * 60_000;
/** The longest armored signature taken: an ed25519 SSHSIG is about 300 characters. */
export const SIGNATURE_MAX_CHARS = 4096;

/**
 * A decision's, abort's, pause's or resume's signature. `sshsig` is what `ssh-keygen -Y sign -n cutover` printed
 * for the message `signedMessage(...)` built from the action, `signedAt` and `evidence`.
 */
export interface Signature {
  /** The armored SSHSIG (`-----BEGIN SSH SIGNATURE-----`). */
  sshsig: string;
  /** When it was signed (ISO 8601, the signer's clock). */
  signedAt: string;
  /** `sha256:<hex>` of the gate evidence the signer was shown (evidenceDigest); absent for abort, pause and resume. */
  evidence?: string;
}

/** A person and their public key, as the plan lists them: `ssh-ed25519 <base64>` (allowed_signers form). */
export interface Signer {
  name: string;
  key: string;
}

/** Everything the signature covers. `decision` is the gate decision, or `abort`, `pause`, `resume`. */
export interface SignedFields {
  workflowId: string;
  /** The first run's id: it stays the same across continue-as-new and differs for a second run with the same workflow id. */
  runId: string;
  gate: string | null;
  decision: string;
  by: string;
  reason?: string | null;
  note?: string | null;
  evidence?: string | null;
  signedAt: string;
}

/**
 * The signed message: one line of JSON, keys in a fixed order, absent fields as null. Both sides build it from
 * the same fields with this function, so a signature covers exactly these values and nothing else.
 */
export function signedMessage(f: SignedFields): string {
  const text = (v: string | null | undefined) => (typeof v === 'string' && v !== '' ? v : null);
  return JSON.stringify({
    cutover: 'signed-decision-v1',
    workflowId: f.workflowId,
    runId: f.runId,
    gate: text(f.gate),
    decision: f.decision,
    by: f.by,
    reason: text(f.reason),
    note: text(f.note),
    evidence: text(f.evidence),
    signedAt: f.signedAt,
  });
}

/** Evidence as canonical JSON: keys sorted at every level, so the same values always give the same bytes. */
export function canonicalJson(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v ?? null);
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
    .join(',')}}`;
}

/** `sha256:<hex>` of the canonical evidence: what a decision's signature says the approver was shown. */
export function evidenceDigest(evidence: Evidence): string {
  return `sha256:${hex(sha256(utf8(canonicalJson(evidence))))}`;
}

/** SHA-256 of a text as hex: the replay memory keeps messages by this. */
export function sha256Hex(text: string): string {
  return hex(sha256(utf8(text)));
}

export function hex(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += b.toString(16).padStart(2, '0');
  return out;
}

/** UTF-8 bytes of a string (no TextEncoder needed: the workflow sandbox and Node give the same bytes). */
export function utf8(s: string): Uint8Array {
  const out: number[] = [];
  for (const ch of s) {
    let c = ch.codePointAt(0)!;
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate, as TextEncoder writes it
    if (c < 0x80) out.push(c);
    else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
  }
  return Uint8Array.from(out);
}
