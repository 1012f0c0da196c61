#!/usr/bin/env node
// The worker: `cutover-worker` once installed, `npm run worker` in development. One worker on task queue
// `cutover` with every workflow and activity. Run more of them (on more machines) against the same Temporal
// cluster to scale out: Temporal spreads the work. SIGINT/SIGTERM shut it down gracefully (the SDK's runtime
// handles both: running activities finish or are cancelled, nothing is lost: their workflows resume on another
// worker). Configuration is the environment only (TEMPORAL_*, CUTOVER_*): it never looks for the sandbox, so an
// emulator is used only when CUTOVER_GCS_ENDPOINT names one.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker, type NativeConnectionOptions, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { validatingInterceptor } from '../activities/remote/validate';
import { TASK_QUEUE } from '../workflows/shared';
import { temporalSettings } from './connection';

/** A setting that does not work (no bundle, Temporal unreachable): one message and exit 2, no stack. */
export class WorkerSetupError extends Error {}

/** Compiled (dist/workers/main.js, the installed package) or TypeScript run by tsx (development). */
const compiled = path.extname(__filename) === '.js';

/** dist/workflow-bundle.js at the package root, seen from either dist/workers/ or workers/. */
export const workflowBundlePath = path.resolve(__dirname, '..', ...(compiled ? [] : ['dist']), 'workflow-bundle.js');

/**
 * The installed worker and NODE_ENV=production use the pre-built bundle (`npm run build`, run by `npm pack`):
 * no webpack at start, and the workflow code that runs is exactly the code that was built. Development bundles
 * workflows/ at start, so an edit needs no build step.
 */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (compiled || process.env.NODE_ENV === 'production') {
    if (!existsSync(workflowBundlePath)) {
      throw new WorkerSetupError(`the worker needs the pre-built workflow bundle ${workflowBundlePath}: run \`npm run build\``);
    }
    return { workflowBundle: { codePath: workflowBundlePath } };
  }
  return { workflowsPath: require.resolve('../workflows') };
}

export async function createWorker(taskQueue = process.env.CUTOVER_TASK_QUEUE ?? TASK_QUEUE): Promise<Worker> {
  const { connectionOptions, namespace } = temporalSettings();
  const connection = await NativeConnection.connect(connectionOptions as NativeConnectionOptions).catch((err: Error) => {
    throw new WorkerSetupError(`cannot reach Temporal at ${connectionOptions.address}: ${err.message}\nset TEMPORAL_ADDRESS / TEMPORAL_PROFILE`);
  });
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    activities: createActivities(),
    // Every activity input is checked again on the worker: a run started around the plan schema cannot inject.
    interceptors: { activity: [validatingInterceptor()] },
    // Heartbeats carry the live figures and deliver cancellation: send them at least every 2 s.
    maxHeartbeatThrottleInterval: '2s',
    ...workflowSource(),
  });
}

const USAGE = `usage: cutover-worker

Runs one cutover worker until SIGINT/SIGTERM (graceful shutdown). Configured by environment only:
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE   Temporal (default 127.0.0.1:7233)
  CUTOVER_TASK_QUEUE     task queue (default ${TASK_QUEUE})
  CUTOVER_GCS_ENDPOINT   GCS emulator for artifacts (default: Google Cloud Storage, Application Default Credentials)
  CUTOVER_GCS_PROJECT    GCS project (default GOOGLE_CLOUD_PROJECT)
  CUTOVER_NSUPDATE       nsupdate binary for DNS switches (default nsupdate on PATH)`;

/** The command: `cutover-worker`, `npm run worker`, and `npm run sandbox:worker` after it has set the sandbox's env. */
async function runWorker(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return console.log(USAGE);
  if (argv.length) throw new WorkerSetupError(`unexpected arguments ${argv.join(' ')}\n\n${USAGE}`);
  const worker = await createWorker();
  if (process.env.CUTOVER_GCS_ENDPOINT) console.log(`artifacts: GCS at ${process.env.CUTOVER_GCS_ENDPOINT} (CUTOVER_GCS_ENDPOINT)`);
  console.log(`cutover worker polling task queue ${worker.options.taskQueue} (namespace ${worker.options.namespace})`);
  await worker.run();
  console.log('cutover worker stopped');
}

/** Entry point: setup errors exit 2 with one message, bugs exit 1 with a stack. */
export function main(argv: string[]): void {
  runWorker(argv).catch((err) => {
    console.error(err instanceof WorkerSetupError ? `cutover-worker: ${err.message}` : err);
    process.exit(err instanceof WorkerSetupError ? 2 : 1);
  });
}

if (require.main === module) main(process.argv.slice(2));
