// A small ssh2 wrapper: key auth, host keys pinned from a known_hosts file read as OpenSSH reads it (unknown,
// changed or revoked keys are refused, never accepted), commands with streamed output and cancellation.
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { quote } from 'shell-quote';
import { Client, type ConnectConfig } from 'ssh2';
import type { SshHost } from '../../workflows/shared/types';
import { addressProblem, loginProblem } from '../remote/validate';
import { hostKeysFor, parseKnownHosts } from './known-hosts';

export { hostKeysFor, parseKnownHosts, type KnownHostsEntry } from './known-hosts';

export class SshError extends Error {
  constructor(
    message: string,
    readonly kind: 'unreachable' | 'auth' | 'host-key' | 'command',
    readonly exitCode?: number,
    readonly stderr?: string,
  ) {
    super(message);
  }
}

export interface ExecOptions {
  signal?: AbortSignal;
  onStdout?: (chunk: string) => void;
  onStderr?: (chunk: string) => void;
  /** Resolve with the exit code instead of throwing on a non-zero one. */
  allowFailure?: boolean;
  /** Keep only about the last this many characters of stdout in the result (long-running progress streams). */
  keepStdout?: number;
  /** The same for stderr (a job's log: only its end is shown). */
  keepStderr?: number;
  stdin?: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function hostSpec(host: Pick<SshHost, 'address' | 'port'>): string {
  return host.port === 22 ? host.address : `[${host.address}]:${host.port}`;
}

export class SshConnection {
  private constructor(
    readonly host: SshHost,
    private readonly client: Client,
  ) {}

  static async open(host: SshHost, signal?: AbortSignal): Promise<SshConnection> {
    const where = `${host.name} (${host.user}@${host.address}:${host.port})`;
    // Checked here too, whatever the caller validated: these values end up on other hosts' ssh command lines.
    const bad = loginProblem(host.user) ?? addressProblem(host.address);
    if (bad) throw new SshError(`${where}: refusing to connect: ${bad}`, 'auth');
    let privateKey: Buffer;
    let knownHosts: string;
    try {
      privateKey = await readFile(host.identityFile);
    } catch (err) {
      throw new SshError(`${where}: cannot read identityFile ${host.identityFile}: ${(err as Error).message}`, 'auth');
    }
    try {
      knownHosts = await readFile(host.knownHostsFile, 'utf8');
    } catch (err) {
      throw new SshError(`${where}: cannot read knownHostsFile ${host.knownHostsFile}: ${(err as Error).message}`, 'host-key');
    }
    const { pinned, revoked, certAuthorities } = hostKeysFor(parseKnownHosts(knownHosts), hostSpec(host));
    if (pinned.length === 0) {
      const ca = certAuthorities > 0 ? ` (only @cert-authority lines match it: host certificates are not supported, pin the host key itself)` : '';
      throw new SshError(`${where}: no key for ${hostSpec(host)} in ${host.knownHostsFile}${ca}; pin the host key first`, 'host-key');
    }
    let hostKeyRevoked = false;
    let hostKeyRejected = false;
    const client = new Client();
    const config: ConnectConfig = {
      host: host.address,
      port: host.port,
      username: host.user,
      privateKey,
      readyTimeout: 10_000,
      keepaliveInterval: 5_000,
      keepaliveCountMax: 3,
      hostVerifier: (key: Buffer) => {
        // A key marked @revoked is refused even where another line pins it (OpenSSH does the same).
        hostKeyRevoked = revoked.some((r) => r.equals(key));
        const ok = !hostKeyRevoked && pinned.some((p) => p.equals(key));
        if (!ok) hostKeyRejected = true;
        return ok;
      },
    };
    return new Promise<SshConnection>((resolve, reject) => {
      const onAbort = () => {
        client.end();
        reject(new SshError(`${where}: connection cancelled`, 'unreachable'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      client
        .once('ready', () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(new SshConnection(host, client));
        })
        .once('error', (err: Error & { level?: string }) => {
          signal?.removeEventListener('abort', onAbort);
          if (hostKeyRevoked) {
            reject(new SshError(`${where}: host key is marked @revoked in ${host.knownHostsFile}: refusing to connect`, 'host-key'));
          } else if (hostKeyRejected) {
            reject(new SshError(`${where}: host key does not match ${host.knownHostsFile}: refusing to connect`, 'host-key'));
          } else if (err.level === 'client-authentication') {
            reject(new SshError(`${where}: authentication refused for user ${host.user} with key ${host.identityFile}`, 'auth'));
          } else {
            reject(new SshError(`${where}: unreachable: ${err.message}`, 'unreachable'));
          }
        })
        .connect(config);
      // The handshake and every command are small request/response exchanges: with Nagle's algorithm each
      // one waits ~40 ms for a delayed ACK (measured here: 45 ms per exec, 3 ms without).
      client.setNoDelay(true);
    });
  }

  /** Runs a shell command; rejects on a non-zero exit unless allowFailure. */
  exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const where = `${this.host.name} (${this.host.address})`;
    return new Promise<ExecResult>((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) return reject(new SshError(`${where}: cannot run command: ${err.message}`, 'unreachable'));
        let stdout = '';
        let stderr = '';
        let settled = false;
        const onAbort = () => {
          // Closing the channel hangs up the remote command; callers also kill it by pid for certainty.
          stream.signal('TERM');
          stream.close();
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        stream.on('data', (d: Buffer) => {
          const s = d.toString('utf8');
          stdout += s;
          if (opts.keepStdout !== undefined && stdout.length > 2 * opts.keepStdout) stdout = stdout.slice(-opts.keepStdout);
          opts.onStdout?.(s);
        });
        stream.stderr.on('data', (d: Buffer) => {
          const s = d.toString('utf8');
          stderr += s;
          if (opts.keepStderr !== undefined && stderr.length > 2 * opts.keepStderr) stderr = stderr.slice(-opts.keepStderr);
          opts.onStderr?.(s);
        });
        stream.on('close', (code: number | null, signalName?: string) => {
          if (settled) return;
          settled = true;
          opts.signal?.removeEventListener('abort', onAbort);
          if (opts.signal?.aborted) return reject(new SshError(`${where}: command cancelled`, 'command', code ?? -1, stderr));
          const exit = code ?? (signalName ? 128 : -1);
          if (exit !== 0 && !opts.allowFailure) {
            const tail = stderr.trim().split('\n').slice(-3).join(' | ');
            return reject(new SshError(`${where}: \`${abbreviate(command)}\` exited ${exit}: ${tail}`, 'command', exit, stderr));
          }
          resolve({ code: exit, stdout, stderr });
        });
        if (opts.stdin !== undefined) stream.end(opts.stdin);
        else stream.end();
      });
    });
  }

  /**
   * Runs a command and hands its stdout on as a binary stream (with backpressure: a slow reader slows the
   * command); `done` settles when it exits, rejecting on a non-zero exit. For files too big for a string.
   */
  openStdout(command: string, opts: { signal?: AbortSignal } = {}): Promise<{ stdout: Readable; done: Promise<void> }> {
    const where = `${this.host.name} (${this.host.address})`;
    return new Promise((resolve, reject) => {
      this.client.exec(command, (err, stream) => {
        if (err) return reject(new SshError(`${where}: cannot run command: ${err.message}`, 'unreachable'));
        let stderr = '';
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        const onAbort = () => {
          stream.signal('TERM');
          stream.close();
        };
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        const done = new Promise<void>((ok, fail) => {
          stream.on('close', (code: number | null) => {
            opts.signal?.removeEventListener('abort', onAbort);
            if (code === 0) return ok();
            const tail = stderr.trim().split('\n').slice(-3).join(' | ');
            fail(new SshError(`${where}: \`${abbreviate(command)}\` exited ${code ?? 'on a signal'}: ${tail}`, 'command', code ?? -1, stderr));
          });
        });
        done.catch(() => undefined); // the caller awaits it; an early failure must not be unhandled meanwhile
        stream.end();
        resolve({ stdout: stream, done });
      });
    });
  }

  close(): void {
    this.client.end();
  }
}

function abbreviate(command: string): string {
  return command.length > 120 ? `${command.slice(0, 117)}...` : command;
}

/** Open, use, close. */
export async function withSsh<T>(host: SshHost, fn: (c: SshConnection) => Promise<T>, signal?: AbortSignal): Promise<T> {
  const conn = await SshConnection.open(host, signal);
  try {
    return await fn(conn);
  } finally {
    conn.close();
  }
}

/**
 * One word for POSIX sh, quoted by shell-quote's `quote` (widely used and maintained: quoting that many people
 * review beats a hand-written one). Quoting keeps a value one word; it cannot stop a word that starts with "-"
 * from being read as an option: put `--` before such words, and validate users and hosts.
 */
export function shq(s: string): string {
  return quote([s]);
}

/** A command line from separate words, each quoted. */
export function shellWords(words: string[]): string {
  return quote(words);
}
