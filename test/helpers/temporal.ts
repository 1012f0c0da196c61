// Test plumbing for workflow tests: the sandbox's real Temporal dev server, one bundle per test file,
// a unique task queue per test.
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { createActivities } from '../../activities';
import { createDryRunActivities } from '../../activities/dry-run';
import { dryRunTaskQueue } from '../../workflows/shared';
import { loadSandbox, sandboxWorkerEnv, useSandboxWorkerEnv } from '../../scripts/sandbox/endpoints';

export interface TemporalTestEnv {
  client: Client;
  nativeConnection: NativeConnection;
  bundle: WorkflowBundleWithSourceMap;
  close(): Promise<void>;
}

let runtimeInstalled = false;

/** `address`: a server of the test's own (test/helpers/dev-server.ts); by default the sandbox's. */
export async function temporalTestEnv(address?: string): Promise<TemporalTestEnv> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
    runtimeInstalled = true;
  }
  // A missing sandbox fails loudly here: these tests never pass without a real server. Workers in this process
  // (and activities built here) use the sandbox's Temporal server and GCS emulator unless set explicitly.
  useSandboxWorkerEnv(loadSandbox());
  address ??= process.env.TEMPORAL_ADDRESS!;
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const bundle = await bundleWorkflowCode({ workflowsPath: path.resolve(__dirname, '../../workflows/index.ts'), logger: quietLogger });
  return {
    client: new Client({ connection }),
    nativeConnection,
    bundle,
    async close() {
      await nativeConnection.close();
      await connection.close();
    },
  };
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

export function uniqueQueue(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Runs `fn` while a worker with the given activities polls `taskQueue`. */
export async function withWorker<T>(
  env: TemporalTestEnv,
  taskQueue: string,
  activities: object,
  fn: () => Promise<T>,
): Promise<T> {
  const worker = await Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: env.bundle,
    activities,
    maxHeartbeatThrottleInterval: '1s',
  });
  return worker.runUntil(fn());
}

/**
 * Runs `fn` while workers serve `cutover plan` on `taskQueue` as the real worker does: the workflows with the
 * real activities, and the dry run's activities on the dry-run queue (reads real, changes recorded).
 */
export async function withPlanWorkers<T>(env: TemporalTestEnv, taskQueue: string, fn: () => Promise<T>): Promise<T> {
  const dryRun = await Worker.create({
    connection: env.nativeConnection,
    taskQueue: dryRunTaskQueue(taskQueue),
    activities: createDryRunActivities(createActivities()),
  });
  return dryRun.runUntil(withWorker(env, taskQueue, createActivities(), fn));
}

/** Thrown from an `eventually` check: what it waits for can no longer happen, so waiting on is pointless. */
export class GaveUp extends Error {}

/** Poll until `check` returns a truthy value (status queries are cheap); a GaveUp from it ends the wait at once. */
export async function eventually<T>(check: () => Promise<T | undefined | null | false>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      if (err instanceof GaveUp) throw err;
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const root = path.resolve(__dirname, '..', '..');

/**
 * A real `npm run worker` process on `taskQueue`, in its own process group so a test can SIGKILL it whole. The
 * worker never finds the sandbox by itself: its settings go in as environment (explicit ones in ours win).
 */
export function startWorkerProcess(taskQueue: string): ChildProcess {
  return spawn(path.join(root, 'node_modules', '.bin', 'tsx'), [path.join(root, 'workers', 'main.ts')], {
    cwd: root,
    env: { ...sandboxWorkerEnv(loadSandbox()), ...process.env, CUTOVER_TASK_QUEUE: taskQueue },
    stdio: 'ignore',
    detached: true,
  });
}

/** SIGKILL a worker process group, as a crashed machine would: no graceful shutdown. */
export function killWorkerProcess(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    /* already gone */
  }
}
