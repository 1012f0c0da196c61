// Throwaway redis-server processes for tests and benchmarks: one per datacenter address (127.0.1.1, 127.0.2.1)
// on a free port, with its own directory and an optional password, stopped (and its files removed) by `stop`.
// Comparisons and dumps run against these, never against the sandbox's seeded pair that other tests read.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { RedisEndpoint } from '../../activities/redis/endpoint';

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
