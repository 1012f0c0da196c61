// A Temporal dev server of a test's own (the sandbox's binary, in memory, headless), for tests that need server
// settings the sandbox does not have, such as a low continue-as-new suggestion. Fails loudly if it cannot start.
import { Connection } from '@temporalio/client';
import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { findTools } from '../../scripts/sandbox/install';
import { searchAttributeNames, searchAttributeTypes } from '../../workflows/shared';
import { temporalTestEnv, type TemporalTestEnv } from './temporal';

export interface DevServer {
  address: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export async function startDevServer(dynamicConfig: Record<string, string | number>): Promise<DevServer> {
  const bin = findTools().temporal;
  if (!existsSync(bin)) throw new Error(`no Temporal CLI at ${bin}: run npm run sandbox:up once to install it`);
  const [port, httpPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const args = [
    'server', 'start-dev', '--headless', '--ip', '127.0.0.1', '--port', String(port), '--http-port', String(httpPort),
    '--metrics-port', String(metricsPort), '--db-filename', '', '--log-level', 'error',
    ...Object.values(searchAttributeNames).flatMap((name) => ['--search-attribute', `${name}=${searchAttributeTypes[name]}`]),
    ...Object.entries(dynamicConfig).flatMap(([k, v]) => ['--dynamic-config-value', `${k}=${v}`]),
  ];
  const child: ChildProcess = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = `exited with ${code ?? signal}`));
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`temporal server start-dev ${exited}: ${stderr.trim()}`);
    try {
      const c = await Connection.connect({ address, connectTimeout: 1000 });
      // Ready when the namespace answers (search attributes registered with it).
      await c.workflowService.describeNamespace({ namespace: 'default' });
      await c.close();
      return { address, stop };
    } catch (err) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`temporal server start-dev on ${address} did not answer within 60 s: ${(err as Error).message}; ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
}

/**
 * A dev server of this test file's own with `dynamicConfig`, started before its tests and stopped after them, and a
 * test environment connected to it (read `env` and `address` inside tests and hooks, not at load time).
 */
export function ownDevServer(dynamicConfig: Record<string, string | number>): { readonly env: TemporalTestEnv; readonly address: string } {
  let server: DevServer | undefined;
  let env: TemporalTestEnv | undefined;
  beforeAll(async () => {
    server = await startDevServer(dynamicConfig);
    env = await temporalTestEnv(server.address);
  });
  afterAll(async () => {
    await env?.close();
    await server?.stop();
  });
  return {
    get env() {
      return env!;
    },
    get address() {
      return server!.address;
    },
  };
}
