// Throwaway redis-server processes for tests and benchmarks: one per datacenter address (127.0.1.1, 127.0.2.1)
// on a free port, with its own directory and an optional password, stopped (and its files removed) by `stop`.
// Comparisons and dumps run against these, never against the sandbox's seeded pair that other tests read.
// `startControlledRedis` makes one a move can stop and start over SSH: run by the sandbox's user through the
// same control script the sandbox writes for its own pair.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RedisEndpoint } from '../../activities/redis/endpoint';
import { redisCtlScript } from '../sandbox/redis';

export interface ThrowawayRedis {
  endpoint: RedisEndpoint & { password?: string };
  dir: string;
  pid: number;
  stop(): Promise<void>;
}

export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, address, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

async function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    s.once('connect', () => {
      s.end('PING\r\n');
      s.once('data', (d) => resolve(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH')));
    });
    s.once('error', () => resolve(false));
  });
}

/** A port free on every one of `addresses`: a source and a target a DNS switch moves between share a port. */
export async function freePortOnAll(addresses: string[]): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const port = await freePort(addresses[0]);
    const ok = await Promise.all(addresses.slice(1).map((a) => new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(port, a, () => s.close(() => resolve(true)));
    })));
    if (ok.every(Boolean)) return port;
  }
  throw new Error(`no port free on all of ${addresses.join(', ')}`);
}

export async function startThrowawayRedis(o: { address: string; port?: number; password?: string; label?: string; args?: string[] }): Promise<ThrowawayRedis> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cutover-redis-'));
  let lastErr = '';
  for (let attempt = 0; attempt < (o.port ? 1 : 3); attempt++) {
    const port = o.port ?? (await freePort(o.address));
    const args = [
      '--bind', o.address, '--port', String(port), '--dir', dir, '--dbfilename', 'dump.rdb', '--save', '',
      '--appendonly', 'no', '--protected-mode', 'no', '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'),
      ...(o.password ? ['--requirepass', o.password, '--masterauth', o.password] : []),
      ...(o.args ?? []),
    ];
    const child: ChildProcess = spawn('redis-server', args, { stdio: 'ignore' });
    let exited = false;
    child.once('exit', () => (exited = true));
    for (let i = 0; i < 100 && !exited; i++) {
      if (await answers(o.address, port)) {
        return {
          endpoint: { host: o.address, port, password: o.password, label: o.label ?? `${o.address}:${port}` },
          dir,
          pid: child.pid!,
          async stop() {
            if (!exited) {
              const gone = new Promise((r) => child.once('exit', r));
              child.kill('SIGKILL');
              await gone;
            }
            rmSync(dir, { recursive: true, force: true });
          },
        };
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    lastErr = exited ? `exited (port ${port} taken?)` : `no answer on ${o.address}:${port}`;
    if (!exited) child.kill('SIGKILL');
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`redis-server on ${o.address}: ${lastErr}`);
}

/** A redis-server run by the sandbox's `cutover` user through its own control script, as a move's target is. */
export interface ControlledRedis {
  endpoint: RedisEndpoint & { password?: string };
  /** Its directory (cutover's): conf, dump, log, pid file, control script. */
  dir: string;
  /** `sh <ctl> start|stop|status`, as a plan's target service runs it over SSH. */
  ctl: string;
  dumpPath: string;
  conf: string;
  /** Runs the control script as the sandbox user (start, stop, status). */
  control(action: 'start' | 'stop' | 'status'): { code: number; out: string };
  /** Stops it (SHUTDOWN NOSAVE) and removes its directory. */
  stop(): Promise<void>;
}

/**
 * A throwaway server in a directory of its own under `parentDir` (one of the sandbox's host directories, owned by
 * `user`), with a password, DEBUG enabled for loopback clients (the benchmark's baseline uses DEBUG DIGEST), no
 * automatic saves, started through redis-ctl.sh as `user` (so a move, logging in as that user over SSH, can stop
 * and start it).
 */
export function startControlledRedis(o: { parentDir: string; name: string; address: string; port: number; password?: string; label?: string; user?: string; extra?: string[] }): ControlledRedis {
  const user = o.user ?? 'cutover';
  const dir = path.join(o.parentDir, `redis-${o.name}`);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'redis.conf');
  const pwFile = path.join(dir, 'password');
  const lines = [
    `bind ${o.address}`, `port ${o.port}`, 'protected-mode no', 'daemonize no', `dir ${dir}`, 'dbfilename dump.rdb', 'save ""', 'appendonly no',
    'enable-debug-command local', 'repl-diskless-sync-delay 0',
    ...(o.password ? [`requirepass ${o.password}`, `masterauth ${o.password}`] : []),
    ...(o.extra ?? []),
  ];
  writeFileSync(conf, `${lines.join('\n')}\n`);
  if (o.password) writeFileSync(pwFile, o.password, { mode: 0o600 });
  const ctl = path.join(dir, 'redis-ctl.sh');
  writeFileSync(ctl, redisCtlScript({ conf, pidFile: path.join(dir, 'redis.pid'), logFile: path.join(dir, 'redis.log'), address: o.address, port: o.port, passwordFile: o.password ? pwFile : undefined }), { mode: 0o755 });
  const chown = spawnSync('chown', ['-R', `${user}:`, dir], { encoding: 'utf8' });
  if (chown.status !== 0) throw new Error(`chown ${dir}: ${chown.stderr}`);
  const control = (action: 'start' | 'stop' | 'status') => {
    const r = spawnSync('runuser', ['-u', user, '--', 'sh', ctl, action], { encoding: 'utf8', timeout: 60_000 });
    return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}`.trim() };
  };
  const started = control('start');
  if (started.code !== 0) throw new Error(`redis ${o.name} on ${o.address}:${o.port} did not start: ${started.out}`);
  return {
    endpoint: { host: o.address, port: o.port, password: o.password, label: o.label ?? `${o.address}:${o.port}` },
    dir,
    ctl,
    conf,
    dumpPath: path.join(dir, 'dump.rdb'),
    control,
    async stop() {
      control('stop');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
