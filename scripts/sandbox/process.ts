// Running commands and managing the sandbox's long-running processes: detached spawns with a log file and a
// pidfile, liveness checks that survive pid reuse, TERM-then-KILL stops, port probes.
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { type Layout, USER, USER_HOME } from './layout';

/** A component could not be brought up or checked: names it and the log that says why. */
export class SandboxError extends Error {
  constructor(
    readonly component: string,
    message: string,
    readonly logFile?: string,
  ) {
    super(message);
  }
}

export interface RunOptions {
  /** Run as the sandbox's unix user (uid/gid, HOME, cwd) instead of root. */
  asUser?: boolean;
  input?: string | Buffer;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const BASE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

let ids: { uid: number; gid: number } | undefined;

/** uid/gid of the sandbox user; call after the user exists. */
export function userIds(): { uid: number; gid: number } {
  if (ids) return ids;
  const uid = tryRun('id', ['-u', USER]);
  const gid = tryRun('id', ['-g', USER]);
  if (uid.code !== 0 || gid.code !== 0) throw new Error(`unix user ${USER} does not exist`);
  ids = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  return ids;
}

export function forgetUserIds(): void {
  ids = undefined;
}

function spawnOptions(opts: RunOptions) {
  const env: NodeJS.ProcessEnv = opts.asUser
    ? { PATH: `${BASE_PATH}`, HOME: USER_HOME, USER, LOGNAME: USER, LANG: 'C.UTF-8', ...opts.env }
    : { ...process.env, ...opts.env };
  return {
    env,
    cwd: opts.cwd ?? (opts.asUser ? USER_HOME : undefined),
    ...(opts.asUser ? userIds() : {}),
  };
}

/** Runs a command to completion; never throws for a non-zero exit. */
export function tryRun(cmd: string, args: string[], opts: RunOptions = {}): RunResult {
  const r = spawnSync(cmd, args, {
    ...spawnOptions(opts),
    input: opts.input,
    timeout: opts.timeoutMs ?? 60_000,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) return { code: -1, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error.message}` };
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs a command; a non-zero exit throws a SandboxError for `component` that quotes stderr. */
export function run(component: string, cmd: string, args: string[], opts: RunOptions = {}, logFile?: string): string {
  const r = tryRun(cmd, args, opts);
  if (r.code !== 0) {
    const why = (r.stderr || r.stdout).trim().split('\n').slice(-5).join('\n    ');
    throw new SandboxError(component, `\`${[cmd, ...args].join(' ')}\` exited ${r.code}:\n    ${why}`, logFile);
  }
  return r.stdout;
}

/** Like tryRun, without blocking the event loop (for checks that run side by side). */
export function tryRunAsync(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...spawnOptions(opts), stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 60_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => resolve({ code: -1, stdout, stderr: `${stderr}${err.message}` }));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Runs a long command with its output appended to a log file; resolves with the exit code. */
export function runLogged(cmd: string, args: string[], logFile: string, opts: RunOptions = {}): Promise<number> {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, 'a');
  try {
    const child = spawn(cmd, args, { ...spawnOptions(opts), stdio: ['ignore', fd, fd] });
    return new Promise((resolve) => {
      child.on('error', () => resolve(-1));
      child.on('exit', (code) => resolve(code ?? -1));
    });
  } finally {
    closeSync(fd);
  }
}

export interface DetachedSpec {
  cmd: string;
  args: string[];
  logFile: string;
  pidFile: string;
  asUser?: boolean;
  env?: Record<string, string>;
  cwd?: string;
}

/** How a started process ended, once it has: its exit code or the signal that ended it. */
export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Detached {
  pid: number;
  /** Undefined while the process runs. */
  exit(): Exit | undefined;
}

/**
 * Starts a long-running process that outlives this script: its own session, output to its log file, pid in
 * its pidfile. The process must stay in the foreground (no self-daemonizing) so the pid we record is its pid.
 */
export function spawnDetached(spec: DetachedSpec): Detached {
  mkdirSync(path.dirname(spec.logFile), { recursive: true });
  mkdirSync(path.dirname(spec.pidFile), { recursive: true });
  const fd = openSync(spec.logFile, 'a');
  writeFileSync(fd, `\n--- ${new Date().toISOString()} ${[spec.cmd, ...spec.args].join(' ')}\n`);
  try {
    const child = spawn(spec.cmd, spec.args, {
      ...spawnOptions({ asUser: spec.asUser, env: spec.env, cwd: spec.cwd }),
      detached: true,
      stdio: ['ignore', fd, fd],
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.cmd}`);
    let exit: Exit | undefined;
    child.on('error', () => undefined);
    // Our own child: its exit event is exact, where a look at /proc could race the exec or a reused pid.
    child.on('exit', (code, signal) => (exit = { code, signal }));
    child.unref();
    writeFileSync(spec.pidFile, `${child.pid}\n`);
    return { pid: child.pid, exit: () => exit };
  } finally {
    closeSync(fd);
  }
}

export const describeExit = (e: Exit) => (e.signal ? `killed by ${e.signal}` : `exit code ${e.code}`);

export interface ServerSpec extends DetachedSpec {
  component: string;
  /** True once the server answers as it should. */
  ready: () => boolean | Promise<boolean>;
  timeoutMs: number;
  intervalMs?: number;
  /** What is missing if `ready` never turned true, e.g. "127.0.1.1:2222 not accepting connections". */
  notReady: string;
}

/**
 * Starts a server (spawnDetached) and waits until it is ready. A server that exits during its start is
 * started once more, because a start can lose a race that the next one wins (a process killed from outside, a
 * port in TIME_WAIT); the second exit is reported with its exit code or signal and the log.
 */
export async function startServer(spec: ServerSpec): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const child = spawnDetached(spec);
    const ready = await waitFor(async () => child.exit() !== undefined || (await spec.ready()), spec.timeoutMs, spec.intervalMs);
    const exit = child.exit();
    if (!exit) {
      if (!ready) throw new SandboxError(spec.component, `${spec.notReady} after ${spec.timeoutMs / 1000} s`, spec.logFile);
      return;
    }
    if (attempt === 2) throw new SandboxError(spec.component, `exited during start (${describeExit(exit)}), twice`, spec.logFile);
    appendFileSync(spec.logFile, `--- exited during start (${describeExit(exit)}); starting it once more\n`);
  }
}

export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0].trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** True if `pid` is a live (not zombie) process whose command line mentions `name`: a reused pid is not ours. */
export function isAlive(pid: number | undefined, name?: string): boolean {
  if (pid === undefined) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    if (state === 'Z' || state === 'X') return false;
    if (!name) return true;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
    return cmdline.includes(name);
  } catch {
    return false;
  }
}

/** The pid from a pidfile if that process is alive and is `name`. */
export function livePid(pidFile: string, name: string): number | undefined {
  const pid = readPid(pidFile);
  return isAlive(pid, name) ? pid : undefined;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` until it returns a truthy value or the time is up (then returns the last value). */
export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v || Date.now() >= deadline) return v;
    await sleep(intervalMs);
  }
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL. Returns true if the process had been running. */
export async function stopPid(pid: number | undefined, name: string, graceMs = 10_000): Promise<boolean> {
  if (!isAlive(pid, name)) return false;
  try {
    process.kill(pid!, 'SIGTERM');
  } catch {
    return false;
  }
  // Once signalled, wait for the pid itself to go, not just its name: an exiting process shows an empty
  // cmdline while it still holds its ports.
  const gone = await waitFor(() => !isAlive(pid), graceMs, 50);
  if (!gone) {
    try {
      process.kill(pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await waitFor(() => !isAlive(pid), 5_000, 50);
  }
  return true;
}

/** Stops the process in a pidfile (if it is still `name`) and removes the pidfile. */
export async function stopPidFile(pidFile: string, name: string, graceMs?: number): Promise<boolean> {
  const stopped = await stopPid(readPid(pidFile), name, graceMs);
  rmSync(pidFile, { force: true });
  return stopped;
}

/**
 * One `up`/`down` at a time per state dir (tests may call `up` from several processes); exported for the demo,
 * which resets the sandbox's PostgreSQL pair under the same lock.
 */
export async function withLock<T>(l: Layout, fn: () => Promise<T>): Promise<T> {
  mkdirSync(l.stateDir, { recursive: true });
  const lock = path.join(l.stateDir, '.lock');
  let announced = false;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      writeFileSync(lock, `${process.pid}\n`);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readPid(lock);
      if (holder !== undefined && isAlive(holder)) {
        if (!announced) console.log(`… waiting for another sandbox command (pid ${holder})`);
        announced = true;
        await sleep(250);
      } else {
        rmSync(lock, { force: true }); // left by a command that died
      }
    }
  }
  try {
    return await fn();
  } finally {
    if (existsSync(l.stateDir)) rmSync(lock, { force: true });
  }
}

/** True if something accepts TCP connections on host:port. */
export function probePort(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Who listens on a TCP host:port, as `ss` tells it (for error messages). */
export function listenerOf(host: string, port: number): string | undefined {
  const r = tryRun('ss', ['-Hltnp', `src ${host}:${port}`]);
  const line = r.stdout.trim().split('\n')[0];
  if (!line) return undefined;
  const users = /users:\(\((.*)\)\)/.exec(line);
  return users ? users[1] : line;
}

/** Throws a clear error if a port we are about to bind is held by a process we do not know about. */
export async function assertPortFree(component: string, host: string, port: number, logFile: string): Promise<void> {
  if (await probePort(host, port)) {
    const who = listenerOf(host, port);
    throw new SandboxError(
      component,
      `${host}:${port} is already in use${who ? ` by ${who}` : ''}, not by a process this sandbox recorded ` +
        `(a sandbox with another state dir, or one whose state dir was deleted without \`down\`?)`,
      logFile,
    );
  }
}

/** The last lines of a log, for failure messages. */
export function tailFile(file: string, lines = 8): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8').trimEnd().split('\n');
  return text.slice(-lines).join('\n');
}

/** Live processes of a uid. */
export function pidsOfUid(uid: number): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => {
      try {
        const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m !== null && Number(m[1]) === uid && isAlive(pid);
      } catch {
        return false;
      }
    });
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * Processes of `uid` that belong to the sandbox in `stateDir` (for the sweep in `down`): those whose command
 * line or working directory is inside the state dir (a standby, an rsync of an interrupted move), and those
 * that descend from one of `roots` (the sandbox's sshd listeners: anything started over SSH). Processes of the
 * same user that belong to a sandbox in another state dir are left alone.
 */
export function strayPids(uid: number, stateDir: string, roots: number[]): number[] {
  const inside = (p: string) => p === stateDir || p.startsWith(`${stateDir}/`);
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (!m || Number(m[1]) !== uid || !isAlive(pid)) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // not readable
      }
      let ours = inside(cwd) || cmdline.includes(`${stateDir}/`);
      for (let p = parentOf(pid); !ours && p !== undefined && p > 1; p = parentOf(p)) ours = roots.includes(p);
      if (ours) out.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return out;
}
