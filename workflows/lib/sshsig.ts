// OpenSSH signatures (`ssh-keygen -Y sign`, the SSHSIG format of OpenSSH's PROTOCOL.sshsig) read and verified
// in pure code, so the workflow itself checks who decided: inside the workflow sandbox there is no Node crypto,
// and an update validator must decide synchronously. ed25519 keys only (what `ssh-keygen -t ed25519` makes);
// RSA, ECDSA and security-key (sk-) signatures are refused with a clear reason.
//
//   armored:      -----BEGIN SSH SIGNATURE----- base64 -----END SSH SIGNATURE-----
//   blob:         "SSHSIG" uint32(1) string(publickey) string(namespace) string(reserved) string(hash_alg) string(signature)
//   signed data:  "SSHSIG" string(namespace) string(reserved) string(hash_alg) string(H(message))
//
// The verification is strict RFC 8032 (zip215: false): a signature has one encoding, so the same message cannot
// come back with a second valid signature. Replay memory keys on the message anyway, not on the signature bytes.
import { ed25519 } from '@noble/curves/ed25519';
import { sha256, sha512 } from '@noble/hashes/sha2';
import { utf8 } from '../shared/signing';

export const ED25519 = 'ssh-ed25519';
const MAGIC = 'SSHSIG';
const BEGIN = '-----BEGIN SSH SIGNATURE-----';
const END = '-----END SSH SIGNATURE-----';

/** A signature or key that cannot be read: the message says what is wrong with it. */
export class SshSigError extends Error {}

export interface SshSig {
  /** The signer's public key blob (string "ssh-ed25519" + string key). */
  publicKey: Uint8Array;
  namespace: string;
  hashAlgorithm: 'sha256' | 'sha512';
  /** The raw ed25519 signature (64 bytes). */
  signature: Uint8Array;
}

export interface SshPublicKey {
  type: string;
  /** The key blob as in the `authorized_keys` / `allowed_signers` base64 field. */
  blob: Uint8Array;
  /** The 32-byte ed25519 key. */
  raw: Uint8Array;
}

/** Reads an armored SSHSIG (`ssh-keygen -Y sign` output). */
export function parseSshSig(armored: string): SshSig {
  const text = armored.trim();
  if (!text.startsWith(BEGIN) || !text.endsWith(END)) throw new SshSigError(`not an SSH signature (expected ${BEGIN} ... ${END})`);
  const r = new Reader(base64Decode(text.slice(BEGIN.length, text.length - END.length)));
  if (latin1(r.bytes(6)) !== MAGIC) throw new SshSigError('not an SSH signature (no SSHSIG preamble)');
  const version = r.uint32();
  if (version !== 1) throw new SshSigError(`SSH signature version ${version} is not supported (expected 1)`);
  const publicKey = r.string();
  const namespace = latin1(r.string());
  r.string(); // reserved
  const hashAlgorithm = latin1(r.string());
  if (hashAlgorithm !== 'sha512' && hashAlgorithm !== 'sha256') throw new SshSigError(`hash algorithm ${hashAlgorithm} is not supported (sha512 or sha256)`);
  const sig = new Reader(r.string());
  r.end();
  const sigType = latin1(sig.string());
  const keyType = parseKeyBlob(publicKey).type;
  if (sigType !== ED25519 || keyType !== ED25519) throw new SshSigError(`only ed25519 signatures are taken (this one is ${sigType})`);
  const signature = sig.string();
  sig.end();
  if (signature.length !== 64) throw new SshSigError('an ed25519 signature is 64 bytes');
  return { publicKey, namespace, hashAlgorithm, signature };
}

/** Reads `ssh-ed25519 AAAA... [comment]` (a .pub file, or the key part of an allowed_signers line). */
export function parsePublicKey(line: string): SshPublicKey {
  const [type, b64] = line.trim().split(/\s+/);
  if (!type || !b64) throw new SshSigError('expected a public key: "ssh-ed25519 AAAA..."');
  if (type !== ED25519) throw new SshSigError(`only ssh-ed25519 keys are taken (got ${type})`);
  const key = parseKeyBlob(base64Decode(b64));
  if (key.type !== type) throw new SshSigError(`the key says ${key.type} inside but ${type} outside`);
  return key;
}

function parseKeyBlob(blob: Uint8Array): SshPublicKey {
  const r = new Reader(blob);
  const type = latin1(r.string());
  if (type !== ED25519) throw new SshSigError(`only ssh-ed25519 keys are taken (got ${type})`);
  const raw = r.string();
  r.end();
  if (raw.length !== 32) throw new SshSigError('an ed25519 public key is 32 bytes');
  return { type, blob, raw };
}

/** The key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and unpadded base64 of the blob's SHA-256. */
export function fingerprint(blob: Uint8Array): string {
  return `SHA256:${base64Encode(sha256(blob)).replace(/=+$/, '')}`;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** Whether `sig` is a valid signature of `message` in `namespace` by the key inside it (check whose key that is apart). */
export function verifySshSig(sig: SshSig, message: string, namespace: string): boolean {
  if (sig.namespace !== namespace) return false;
  const h = (sig.hashAlgorithm === 'sha512' ? sha512 : sha256)(utf8(message));
  const signed = concat([ascii(MAGIC), sshString(ascii(namespace)), sshString(new Uint8Array(0)), sshString(ascii(sig.hashAlgorithm)), sshString(h)]);
  try {
    return ed25519.verify(sig.signature, signed, parseKeyBlob(sig.publicKey).raw, { zip215: false });
  } catch {
    return false;
  }
}

// ---- wire format ----------------------------------------------------------------------------------

class Reader {
  private at = 0;
  constructor(private readonly buf: Uint8Array) {}
  bytes(n: number): Uint8Array {
    if (n < 0 || this.at + n > this.buf.length) throw new SshSigError('truncated SSH signature or key');
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }
  uint32(): number {
    const b = this.bytes(4);
    return ((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]) >>> 0;
  }
  string(): Uint8Array {
    return this.bytes(this.uint32());
  }
  end(): void {
    if (this.at !== this.buf.length) throw new SshSigError('trailing bytes after the SSH signature or key');
  }
}

function sshString(b: Uint8Array): Uint8Array {
  const n = b.length;
  return concat([Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255), b]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function ascii(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 255);
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (const c of b) s += String.fromCharCode(c);
  return s;
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Strict base64 (whitespace between lines allowed, padding checked): no Buffer or atob in the workflow sandbox. */
export function base64Decode(text: string): Uint8Array {
  const s = text.replace(/[\r\n\t ]+/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new SshSigError('invalid base64');
  const body = s.replace(/=+$/, '');
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const c of body) {
    acc = (acc << 6) | ALPHABET.indexOf(c);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 255);
    }
  }
  if ((acc & ((1 << bits) - 1)) !== 0) throw new SshSigError('invalid base64 (non-zero padding bits)');
  return Uint8Array.from(out);
}

export function base64Encode(b: Uint8Array): string {
  let out = '';
  for (let i = 0; i < b.length; i += 3) {
    const n = (b[i] << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    out += ALPHABET[(n >> 18) & 63] + ALPHABET[(n >> 12) & 63];
    out += i + 1 < b.length ? ALPHABET[(n >> 6) & 63] : '=';
    out += i + 2 < b.length ? ALPHABET[n & 63] : '=';
  }
  return out;
}
