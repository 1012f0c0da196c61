// A minimal RESP2 connection for bulk reads: one batch of commands written at once, replies parsed straight
// from the socket's buffers, one promise per batch. The integrity comparison reads every key of two servers, and
// ioredis (one Command object and one promise per command) measured 67–100k GET+PTTL pairs/s here against
// 680–800k for this loop. Binary-safe: keys and values stay Buffers, so two different non-UTF-8 values can
// never decode to the same string and compare equal. ioredis remains the client for everything else.
import net from 'node:net';
import type { RedisEndpoint } from './endpoint';

/** An error reply (`-WRONGTYPE ...`): a value in a batch's replies, not a thrown error. */
export class RespError {
  constructor(readonly message: string) {}
}

export type Reply = string | number | Buffer | null | RespError | Reply[];
export type Arg = string | number | Buffer;

/** The connection failed or closed: every pending batch is rejected with this. */
export class RespConnectionError extends Error {}

const INCOMPLETE = Symbol('incomplete');
type Parsed = { value: Reply; next: number } | typeof INCOMPLETE;

function crlf(buf: Buffer, from: number): number {
  const i = buf.indexOf(13, from);
  return i < 0 || i + 1 >= buf.length ? -1 : i;
}

function int(buf: Buffer, from: number, to: number): number {
  let n = 0;
  let neg = false;
  let i = from;
  if (buf[i] === 45) {
    neg = true;
    i++;
  }
  for (; i < to; i++) n = n * 10 + (buf[i] - 48);
  return neg ? -n : n;
}

/** One reply starting at `pos`, or INCOMPLETE when the buffer ends inside it. */
export function parseReply(buf: Buffer, pos: number): Parsed {
  if (pos >= buf.length) return INCOMPLETE;
  const end = crlf(buf, pos + 1);
  if (end < 0) return INCOMPLETE;
  switch (buf[pos]) {
    case 36: {
      // $len\r\n<bytes>\r\n
      const len = int(buf, pos + 1, end);
      if (len < 0) return { value: null, next: end + 2 };
      const start = end + 2;
      if (start + len + 2 > buf.length) return INCOMPLETE;
      return { value: buf.subarray(start, start + len), next: start + len + 2 };
    }
    case 58:
      return { value: int(buf, pos + 1, end), next: end + 2 };
    case 43:
      return { value: buf.toString('latin1', pos + 1, end), next: end + 2 };
    case 45:
      return { value: new RespError(buf.toString('utf8', pos + 1, end)), next: end + 2 };
    case 42: {
      const n = int(buf, pos + 1, end);
      if (n < 0) return { value: null, next: end + 2 };
      const items: Reply[] = new Array(n);
      let next = end + 2;
      for (let i = 0; i < n; i++) {
        const r = parseReply(buf, next);
        if (r === INCOMPLETE) return INCOMPLETE;
        items[i] = r.value;
        next = r.next;
      }
      return { value: items, next };
    }
    default:
      throw new RespConnectionError(`protocol error: unexpected byte ${buf[pos]} in a reply`);
  }
}

/** Writes `n` (≥ 0) as decimal digits at `o`; returns the new offset. */
function writeInt(out: Buffer, o: number, n: number): number {
  if (n < 10) {
    out[o] = 48 + n;
    return o + 1;
  }
  const start = o;
  while (n > 0) {
    out[o++] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  out.subarray(start, o).reverse();
  return o;
}

/**
 * The bytes of commands as RESP arrays of bulk strings, in one buffer. Headers are written byte by byte:
 * with one small `write` per header, encoding took more time than parsing the replies.
 */
export function encode(cmds: Arg[][]): Buffer {
  let size = 0;
  for (const cmd of cmds) {
    size += 16;
    for (const a of cmd) size += (typeof a === 'string' ? a.length * 3 : typeof a === 'number' ? 24 : a.length) + 16;
  }
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const cmd of cmds) {
    out[o++] = 42; // *
    o = writeInt(out, o, cmd.length);
    out[o++] = 13;
    out[o++] = 10;
    for (const a of cmd) {
      const b = typeof a === 'number' ? String(a) : a;
      out[o++] = 36; // $
      if (typeof b === 'string') {
        const len = Buffer.byteLength(b);
        o = writeInt(out, o, len);
        out[o++] = 13;
        out[o++] = 10;
        o += out.write(b, o, len, len === b.length ? 'latin1' : 'utf8');
      } else {
        o = writeInt(out, o, b.length);
        out[o++] = 13;
        out[o++] = 10;
        o += b.copy(out, o);
      }
      out[o++] = 13;
      out[o++] = 10;
    }
  }
  return out.subarray(0, o);
}

interface Pending {
  replies: Reply[];
  expected: number;
  resolve: (r: Reply[]) => void;
  reject: (e: Error) => void;
}

export class RespConnection {
  private buf: Buffer | null = null;
  private readonly pending: Pending[] = [];
  private failed: Error | null = null;

  private constructor(
    private readonly socket: net.Socket,
    readonly label: string,
  ) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (e) => this.fail(new RespConnectionError(`${label}: ${e.message}`)));
    socket.on('close', () => this.fail(new RespConnectionError(`${label}: connection closed`)));
  }

  /** Connects, authenticates (AUTH [user] password) and selects `db`. */
  static async open(ep: RedisEndpoint, db = 0, opts: { timeoutMs?: number } = {}): Promise<RespConnection> {
    const label = ep.label ?? `${ep.host}:${ep.port}`;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: ep.host, port: ep.port, noDelay: true });
      const t = setTimeout(() => {
        s.destroy();
        reject(new RespConnectionError(`${label}: no connection after ${opts.timeoutMs ?? 5000} ms`));
      }, opts.timeoutMs ?? 5000);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(t);
        reject(new RespConnectionError(`${label}: ${e.message}`));
      });
    });
    const conn = new RespConnection(socket, label);
    const setup: Arg[][] = [];
    if (ep.password !== undefined) setup.push(ep.username ? ['AUTH', ep.username, ep.password] : ['AUTH', ep.password]);
    setup.push(['SELECT', db]);
    const replies = await conn.exec(setup);
    const bad = replies.find((r) => r instanceof RespError) as RespError | undefined;
    if (bad) {
      conn.close();
      throw new RespConnectionError(`${label}: ${bad.message}`);
    }
    return conn;
  }

  /** Sends the commands in one write; resolves with their replies in order (error replies as RespError). */
  exec(cmds: Arg[][]): Promise<Reply[]> {
    if (this.failed) return Promise.reject(this.failed);
    if (cmds.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      this.pending.push({ replies: [], expected: cmds.length, resolve, reject });
      this.socket.write(encode(cmds));
    });
  }

  /** One command; its error reply is thrown. */
  async call(...args: Arg[]): Promise<Reply> {
    const [r] = await this.exec([args]);
    if (r instanceof RespError) throw new RespConnectionError(`${this.label}: ${String(args[0])}: ${r.message}`);
    return r;
  }

  close(): void {
    this.failed ??= new RespConnectionError(`${this.label}: closed`);
    this.socket.destroy();
  }

  private onData(d: Buffer): void {
    let buf = this.buf ? Buffer.concat([this.buf, d]) : d;
    let pos = 0;
    try {
      while (pos < buf.length) {
        const r = parseReply(buf, pos);
        if (r === INCOMPLETE) break;
        pos = r.next;
        const p = this.pending[0];
        if (!p) throw new RespConnectionError(`${this.label}: a reply nobody asked for`);
        p.replies.push(r.value);
        if (p.replies.length === p.expected) {
          this.pending.shift();
          p.resolve(p.replies);
        }
      }
    } catch (err) {
      this.fail(err as Error);
      this.socket.destroy();
      return;
    }
    buf = buf.subarray(pos);
    // Keep only the unparsed tail; copy it when small so the big chunk it came from can be freed.
    this.buf = buf.length === 0 ? null : buf.length < 65536 ? Buffer.from(buf) : buf;
  }

  private fail(err: Error): void {
    this.failed ??= err;
    for (const p of this.pending.splice(0)) p.reject(this.failed);
  }
}
