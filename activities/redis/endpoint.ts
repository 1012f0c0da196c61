// Where a Redis server is and how to log in: the password itself, read by the caller from its reference
// (activities/secrets) on the worker just before connecting, never part of an activity input or result.
export interface RedisEndpoint {
  host: string;
  port: number;
  /** ACL user; absent: the default user (plain `AUTH password`). */
  username?: string;
  password?: string;
  /** Shown in errors and differences: "source dc1", "target dc2". */
  label?: string;
}

/** The six types of Redis 7 without modules. */
export const CORE_TYPES = ['string', 'hash', 'list', 'set', 'zset', 'stream'] as const;
export type CoreType = (typeof CORE_TYPES)[number];

/**
 * A key or value as text for a report: itself when it is printable UTF-8, else with every byte outside
 * printable ASCII as \xNN (so two different binary keys never print the same), cut at `max` characters.
 */
export function printable(b: Buffer, max = 200): string {
  const s = b.toString('utf8');
  const text = Buffer.from(s, 'utf8').equals(b) && !/[\u0000-\u001f\u007f\\]/.test(s)
    ? s
    : Array.from(b, (c) => (c >= 0x20 && c < 0x7f && c !== 0x5c ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`)).join('');
  return text.length > max ? `${text.slice(0, max)}…(${b.length} bytes)` : text;
}
