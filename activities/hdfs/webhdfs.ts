// A WebHDFS client over Node's fetch: the REST API every HDFS NameNode serves on its HTTP port, so the worker
// needs no JVM and no Hadoop configuration. Writes and reads go through the NameNode's 307 redirect to a
// DataNode; errors name the cluster, the operation and the path, and keep the server's exception.
import http from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { SecretRef } from '../../workflows/shared/types';
import { readSecret } from '../secrets';
import type { FileChecksum } from './checksum';
import { deadlineSignal } from '../deadline';

/** One cluster as cutover reaches it. */
export interface WebHdfsCluster {
  /** Short name for messages: `dc1`. */
  name: string;
  /** NameNode HTTP address: `http://10.1.0.9:9870`. */
  url: string;
  /** Simple authentication: sent as `user.name`. */
  user?: string;
  /** A delegation token instead (read on the worker when first used, never in history). */
  delegationToken?: SecretRef;
}

export interface FileStatus {
  pathSuffix: string;
  type: 'FILE' | 'DIRECTORY' | 'SYMLINK';
  length: number;
  blockSize: number;
  replication: number;
  permission: string;
  owner: string;
  group: string;
  modificationTime: number;
}

export interface ServerDefaults {
  blockSize: number;
  bytesPerChecksum: number;
  checksumType: number;
  replication: number;
}

export type WebHdfsErrorKind = 'permission' | 'not-found' | 'already-exists' | 'unreachable' | 'retriable' | 'bad-request' | 'server';

/** A failed WebHDFS call: `kind` for callers, a message naming the cluster, operation and path for people. */
export class WebHdfsError extends Error {
  constructor(
    readonly kind: WebHdfsErrorKind,
    readonly cluster: string,
    readonly op: string,
    readonly path: string,
    readonly detail: string,
    readonly status?: number,
    readonly exception?: string,
  ) {
    super(`hdfs ${cluster}: ${op} ${path}: ${describeKind(kind)}${detail ? `: ${detail}` : ''}`);
    this.name = 'WebHdfsError';
  }
}

function describeKind(kind: WebHdfsErrorKind): string {
  switch (kind) {
    case 'permission':
      return 'permission denied';
    case 'not-found':
      return 'no such file or directory';
    case 'already-exists':
      return 'already exists';
    case 'unreachable':
      return 'cluster unreachable';
    case 'retriable':
      return 'not ready (safe mode or busy), retry later';
    case 'bad-request':
      return 'refused';
    case 'server':
      return 'server error';
  }
}

/** Maps an HTTP status and the RemoteException HDFS sends to a kind. */
export function errorKind(status: number, exception?: string): WebHdfsErrorKind {
  switch (exception) {
    case 'AccessControlException':
    case 'SecurityException':
      return 'permission';
    case 'FileNotFoundException':
      return 'not-found';
    case 'FileAlreadyExistsException':
      return 'already-exists';
    case 'SafeModeException':
    case 'RetriableException':
    case 'StandbyException':
      return 'retriable';
    case 'IllegalArgumentException':
    case 'UnsupportedOperationException':
    case 'ParentNotDirectoryException':
    case 'PathIsNotEmptyDirectoryException':
      return 'bad-request';
  }
  if (status === 401 || status === 403) return 'permission';
  if (status === 404) return 'not-found';
  if (status === 503) return 'retriable';
  if (status >= 400 && status < 500) return 'bad-request';
  return 'server';
}

function segments(p: string): string[] {
  if (!p.startsWith('/')) throw new Error(`HDFS path must be absolute: ${JSON.stringify(p)}`);
  const parts = p.split('/').filter((s) => s !== '');
  if (parts.some((s) => s === '.' || s === '..')) throw new Error(`HDFS path must be normalised: ${JSON.stringify(p)}`);
  return parts;
}

/** An absolute HDFS path without empty segments or a trailing slash; `.` and `..` are refused. */
export const normaliseHdfsPath = (p: string) => `/${segments(p).join('/')}`;

/** The path encoded for the URL (each segment, `/` kept). */
export const encodeHdfsPath = (p: string) => `/${segments(p).map(encodeURIComponent).join('/')}`;

/** `parent` + `/` + a relative path. */
export const joinHdfsPath = (parent: string, rel: string) => normaliseHdfsPath(rel ? `${parent}/${rel}` : parent);

export type Params = Record<string, string | number | boolean | undefined>;

/** `http://nn:9870/webhdfs/v1/<path>?op=OP&<auth>&<params>`; undefined params are left out. */
export function webhdfsUrl(base: string, path: string, op: string, auth: Params, params: Params = {}): string {
  const u = new URL(`${base.replace(/\/+$/, '')}/webhdfs/v1${encodeHdfsPath(path)}`);
  u.searchParams.set('op', op);
  for (const [k, v] of Object.entries({ ...auth, ...params })) if (v !== undefined) u.searchParams.set(k, String(v));
  return u.toString();
}

export interface CallOptions {
  signal?: AbortSignal;
}

export interface CreateOptions extends CallOptions {
  overwrite?: boolean;
  /** Octal, e.g. `644`. */
  permission?: string;
  blockSize?: number;
  replication?: number;
}

export type Body = Uint8Array | string | Readable | AsyncIterable<Uint8Array>;

/**
 * The DataNode's half of CREATE, over node:http rather than fetch: the DataNode sends `100 Continue` before its
 * answer whether or not it was asked to, and undici (Node's fetch) drops the connection on an unexpected 1xx
 * ("bad response"); node:http skips informational answers as HTTP says.
 */
function dataNodeGet(location: string, stall: Stall, signal?: AbortSignal): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    let answer: http.IncomingMessage | undefined;
    // A connection per request: the DataNode closes it after each answer anyway.
    const req = http.get(location, { agent: false, signal, timeout: stall.ms }, (res) => resolve((answer = res)));
    req.on('error', reject);
    // Nothing received for that long (a partition, a hung DataNode): the call and its stream fail naming the host.
    req.on('timeout', () => {
      const err = stall.error(new URL(location).origin);
      reject(err);
      answer?.destroy(err);
      abandon(req, err);
    });
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Gives up on a stalled request with a reset rather than a close: a close leaves what the kernel has not delivered
 * queued and retransmitted for minutes, so after a partition heals the DataNode could still receive the whole
 * upload and write the temp again long after cutover moved on (seen: temps reappearing after a healed retry had
 * finished). A reset discards it.
 */
function abandon(req: http.ClientRequest, err: Error): void {
  const socket = req.socket;
  if (socket && !socket.destroyed) socket.resetAndDestroy();
  req.destroy(err);
}

function putBytes(location: string, body: Body, stall: Stall, signal?: AbortSignal): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const whole = body instanceof Uint8Array || typeof body === 'string';
    const req = http.request(location, {
      method: 'PUT',
      agent: false, // the DataNode closes the connection after each answer
      signal,
      timeout: stall.ms,
      headers: { 'content-type': 'application/octet-stream', ...(whole ? { 'content-length': Buffer.byteLength(body) } : {}) },
    });
    req.on('error', reject);
    // No byte taken or answered for that long (connect included): a partition or a hung DataNode, not a slow one.
    req.on('timeout', () => {
      const err = stall.error(new URL(location).origin);
      reject(err);
      abandon(req, err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
    });
    if (whole) req.end(body);
    else pipeline(body instanceof Readable ? body : Readable.from(body), req).catch((err: unknown) => req.destroy(err as Error));
  });
}

/** A signal that follows `parent` until `unlink` is called (a call's own, so nothing it adds stays on the parent). */
export function linkedSignal(parent?: AbortSignal): { signal?: AbortSignal; unlink: () => void } {
  if (!parent) return { signal: undefined, unlink: () => undefined };
  const ac = new AbortController();
  const onAbort = () => ac.abort(parent.reason);
  if (parent.aborted) ac.abort(parent.reason);
  else parent.addEventListener('abort', onAbort, { once: true });
  return { signal: ac.signal, unlink: () => parent.removeEventListener('abort', onAbort) };
}

/**
 * Metadata calls get this long in all; data calls (CREATE's upload, OPEN, GETFILECHECKSUM's answer) may take as
 * long as they need but fail after this long without a byte moving. Without the second, a partition that drops
 * packets (no reset, no refusal) hung an upload for as long as TCP retransmits (~15 min) while the activity's clock
 * kept heartbeating.
 */
export const DEFAULT_TIMEOUT_MS = 60_000;

export interface WebHdfsClientOptions {
  /** See DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}

/** A data call's idle limit, and the error it fails with (naming cluster, operation, path and host). */
interface Stall {
  ms: number;
  error: (origin: string) => WebHdfsError;
}

interface RemoteExceptionBody {
  RemoteException?: { exception?: string; message?: string };
}

export class WebHdfsClient {
  private auth?: Promise<Params>;

  readonly timeoutMs: number;

  constructor(
    readonly cluster: WebHdfsCluster,
    private readonly fetchImpl: typeof fetch = fetch,
    opts: WebHdfsClientOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  private stall(op: string, path: string): Stall {
    const s = Math.round(this.timeoutMs / 100) / 10;
    return { ms: this.timeoutMs, error: (origin) => new WebHdfsError('unreachable', this.cluster.name, op, path, `${origin}: nothing received for ${s} s`) };
  }

  private authParams(): Promise<Params> {
    this.auth ??= (async () => {
      if (this.cluster.delegationToken) {
        return { delegation: await readSecret(this.cluster.delegationToken, `hdfs ${this.cluster.name} delegation token`) };
      }
      return { 'user.name': this.cluster.user };
    })();
    return this.auth;
  }

  async url(path: string, op: string, params?: Params): Promise<string> {
    return webhdfsUrl(this.cluster.url, path, op, await this.authParams(), params);
  }

  private fail(op: string, path: string, err: unknown, where = this.cluster.url, signal?: AbortSignal): never {
    if (err instanceof WebHdfsError) throw err;
    // Cancelled by the caller: their reason, not a network error.
    if (signal?.aborted) throw signal.reason;
    const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
    // The call's own time limit (metaSignal): the cluster did not answer, which a retry may fix.
    if (e.name === 'TimeoutError') throw new WebHdfsError('unreachable', this.cluster.name, op, path, `${where}: no answer within ${Math.round(this.timeoutMs / 100) / 10} s`);
    if (e.name === 'AbortError') throw err;
    const code = e.cause?.code ?? e.code;
    // undici's own connect limit (10 s): packets dropped on the way (a partition), nothing refused.
    const detail = code === 'UND_ERR_CONNECT_TIMEOUT' ? `no connection within 10 s (${code})` : (code ?? e.cause?.message ?? e.message);
    throw new WebHdfsError('unreachable', this.cluster.name, op, path, `${where}: ${detail}`);
  }

  /** Turns a non-2xx answer into a WebHdfsError (reading its RemoteException). */
  private async check(res: Response, op: string, path: string, ok: number[] = [200]): Promise<Response> {
    if (ok.includes(res.status)) return res;
    const text = await res.text().catch(() => '');
    let exception: string | undefined;
    let message = text.trim().slice(0, 500);
    try {
      const body = JSON.parse(text) as RemoteExceptionBody;
      if (body.RemoteException) {
        exception = body.RemoteException.exception;
        // The NameNode sends the Java stack in the message: the first line is what a person needs.
        message = (body.RemoteException.message ?? '').split('\n')[0];
      }
    } catch {
      // not JSON: keep the text
    }
    throw new WebHdfsError(errorKind(res.status, exception), this.cluster.name, op, path, message || `HTTP ${res.status}`, res.status, exception);
  }

  private metaSignal(signal?: AbortSignal): AbortSignal {
    return deadlineSignal(this.timeoutMs, signal);
  }

  private async json<T>(method: 'GET' | 'PUT' | 'DELETE', path: string, op: string, params: Params, opts: CallOptions = {}): Promise<T> {
    let res: Response;
    try {
      res = await this.fetchImpl(await this.url(path, op, params), { method, signal: this.metaSignal(opts.signal), redirect: 'follow' });
    } catch (err) {
      this.fail(op, path, err, undefined, opts.signal);
    }
    await this.check(res, op, path);
    // SETPERMISSION and SETOWNER answer 200 with an empty body.
    const text = await res.text();
    return (text ? JSON.parse(text) : {}) as T;
  }

  async getFileStatus(path: string, opts?: CallOptions): Promise<FileStatus> {
    return (await this.json<{ FileStatus: FileStatus }>('GET', path, 'GETFILESTATUS', {}, opts)).FileStatus;
  }

  /** The status, or undefined if nothing is at `path`. */
  async stat(path: string, opts?: CallOptions): Promise<FileStatus | undefined> {
    try {
      return await this.getFileStatus(path, opts);
    } catch (err) {
      if (err instanceof WebHdfsError && err.kind === 'not-found') return undefined;
      throw err;
    }
  }

  /**
   * A directory's entries page by page (LISTSTATUS_BATCH: `dfs.ls.limit` entries a page, 1,000 by default), so a
   * directory of millions never has to fit in one answer. A file lists as itself.
   */
  async *listPages(path: string, opts?: CallOptions): AsyncGenerator<FileStatus[]> {
    let startAfter: string | undefined;
    for (;;) {
      const r = await this.json<{ DirectoryListing: { partialListing: { FileStatuses: { FileStatus: FileStatus[] } }; remainingEntries: number } }>(
        'GET', path, 'LISTSTATUS_BATCH', { startAfter }, opts,
      );
      const page = r.DirectoryListing.partialListing.FileStatuses.FileStatus;
      if (page.length) yield page;
      if (r.DirectoryListing.remainingEntries === 0 || page.length === 0) return;
      startAfter = page[page.length - 1].pathSuffix;
    }
  }

  async listStatus(path: string, opts?: CallOptions): Promise<FileStatus[]> {
    const all: FileStatus[] = [];
    for await (const page of this.listPages(path, opts)) all.push(...page);
    return all;
  }

  /** Every file below `root`, with its path relative to root (`a/b.txt`), in listing order. */
  async walkFiles(root: string, opts?: CallOptions): Promise<Array<{ path: string; status: FileStatus }>> {
    const out: Array<{ path: string; status: FileStatus }> = [];
    const top = await this.getFileStatus(root, opts);
    if (top.type !== 'DIRECTORY') return [{ path: '', status: top }];
    const visit = async (dir: string, rel: string) => {
      for await (const page of this.listPages(dir, opts)) {
        for (const s of page) {
          const childRel = rel ? `${rel}/${s.pathSuffix}` : s.pathSuffix;
          if (s.type === 'DIRECTORY') await visit(joinHdfsPath(dir, s.pathSuffix), childRel);
          else out.push({ path: childRel, status: s });
        }
      }
    };
    await visit(root, '');
    return out;
  }

  async mkdirs(path: string, opts: CallOptions & { permission?: string } = {}): Promise<void> {
    const r = await this.json<{ boolean: boolean }>('PUT', path, 'MKDIRS', { permission: opts.permission }, opts);
    if (!r.boolean) throw new WebHdfsError('server', this.cluster.name, 'MKDIRS', path, 'the NameNode answered false');
  }

  /**
   * CREATE in WebHDFS's two steps: the NameNode answers 307 with a DataNode Location (not followed: fetch would
   * replay the body), then the bytes go to that DataNode, which answers 201 once the file is closed.
   */
  async create(path: string, body: Body, opts: CreateOptions = {}): Promise<void> {
    const op = 'CREATE';
    const params = { overwrite: opts.overwrite ?? false, permission: opts.permission, blocksize: opts.blockSize, replication: opts.replication };
    let location: string | null;
    try {
      const res = await this.fetchImpl(await this.url(path, op, params), { method: 'PUT', redirect: 'manual', signal: this.metaSignal(opts.signal) });
      await this.check(res, op, path, [307]);
      await res.body?.cancel();
      location = res.headers.get('location');
    } catch (err) {
      this.fail(op, path, err, undefined, opts.signal);
    }
    if (!location) throw new WebHdfsError('server', this.cluster.name, op, path, 'the NameNode sent no DataNode location');
    let res: { status: number; text: string };
    try {
      res = await putBytes(location, body, this.stall(op, path), opts.signal);
    } catch (err) {
      this.fail(op, path, err, new URL(location).origin, opts.signal);
    }
    if (res.status !== 201) await this.check(new Response(res.text, { status: res.status }), op, path, [201]);
  }

  /**
   * OPEN: the file's bytes as a stream, from the DataNode the NameNode redirects to. The caller's signal (an
   * activity's, alive for thousands of files) is linked through a signal of this call's own, unlinked when the stream
   * closes: given directly, each OPEN left a listener on it (10,000 files streamed: 10,000 listeners).
   */
  async open(path: string, opts: CallOptions & { offset?: number; length?: number } = {}): Promise<Readable> {
    const { signal, unlink } = linkedSignal(opts.signal);
    try {
      const res = await this.fromDataNode('OPEN', path, { offset: opts.offset, length: opts.length }, signal, opts.signal);
      res.once('close', unlink);
      return res;
    } catch (err) {
      unlink();
      throw err;
    }
  }

  /**
   * A GET the NameNode redirects to a DataNode (OPEN, GETFILECHECKSUM): its 307 read with fetch, the DataNode's
   * answer with node:http. Through fetch, DataNode answers (sent with `connection: close`) took ~130 ms each as soon
   * as a few overlapped, against ~3-8 ms over node:http or curl (measured on the sandbox).
   */
  private async fromDataNode(op: string, path: string, params: Params, signal: AbortSignal | undefined, callerSignal: AbortSignal | undefined): Promise<http.IncomingMessage> {
    let location: string | null;
    try {
      const res = await this.fetchImpl(await this.url(path, op, params), { redirect: 'manual', signal });
      await this.check(res, op, path, [307]);
      await res.body?.cancel();
      location = res.headers.get('location');
    } catch (err) {
      this.fail(op, path, err, undefined, callerSignal);
    }
    if (!location) throw new WebHdfsError('server', this.cluster.name, op, path, 'the NameNode sent no DataNode location');
    let res: http.IncomingMessage;
    try {
      res = await dataNodeGet(location, this.stall(op, path), signal);
    } catch (err) {
      this.fail(op, path, err, new URL(location).origin, callerSignal);
    }
    if (res.statusCode !== 200) {
      const text = (await readAll(res).catch(() => Buffer.alloc(0))).toString('utf8');
      await this.check(new Response(text, { status: res.statusCode ?? 500 }), op, path);
    }
    return res;
  }

  async readFile(path: string, opts?: CallOptions): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of await this.open(path, opts)) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async getFileChecksum(path: string, opts: CallOptions = {}): Promise<FileChecksum> {
    const signal = this.metaSignal(opts.signal);
    const res = await this.fromDataNode('GETFILECHECKSUM', path, {}, signal, opts.signal);
    const text = await readAll(res).catch((err: unknown) => this.fail('GETFILECHECKSUM', path, err, undefined, opts.signal));
    return (JSON.parse(text.toString('utf8')) as { FileChecksum: FileChecksum }).FileChecksum;
  }

  /** The NameNode's defaults for new files: block size, bytes per checksum, checksum type (1 CRC32, 2 CRC32C). */
  async getServerDefaults(opts?: CallOptions): Promise<ServerDefaults> {
    return (await this.json<{ FsServerDefaults: ServerDefaults }>('GET', '/', 'GETSERVERDEFAULTS', {}, opts)).FsServerDefaults;
  }

  async setPermission(path: string, permission: string, opts?: CallOptions): Promise<void> {
    await this.json<unknown>('PUT', path, 'SETPERMISSION', { permission }, opts);
  }

  /** Whether this client's user may do `fsaction` (`-w-`, `r-x`, ...) on `path`: the NameNode's own permission check. */
  async checkAccess(path: string, fsaction: string, opts?: CallOptions): Promise<void> {
    await this.json<unknown>('GET', path, 'CHECKACCESS', { fsaction }, opts);
  }

  /** True if something was deleted; false if nothing was there. */
  async delete(path: string, opts: CallOptions & { recursive?: boolean } = {}): Promise<boolean> {
    return (await this.json<{ boolean: boolean }>('DELETE', path, 'DELETE', { recursive: opts.recursive ?? false }, opts)).boolean;
  }

  /**
   * RENAME (the destination's parent must exist). HDFS answers false, not an error, when the source is missing or
   * the destination exists: that is reported as such, since a rename that did nothing must never pass for done.
   */
  async rename(from: string, to: string, opts?: CallOptions): Promise<void> {
    const r = await this.json<{ boolean: boolean }>('PUT', from, 'RENAME', { destination: normaliseHdfsPath(to) }, opts);
    if (r.boolean) return;
    const [src, dst] = await Promise.all([this.stat(from, opts), this.stat(to, opts)]);
    if (!src) throw new WebHdfsError('not-found', this.cluster.name, 'RENAME', from, `nothing to rename to ${to}`);
    if (dst) throw new WebHdfsError('already-exists', this.cluster.name, 'RENAME', from, `destination ${to} exists`);
    throw new WebHdfsError('server', this.cluster.name, 'RENAME', from, `the NameNode refused the rename to ${to}`);
  }
}
