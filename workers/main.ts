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
import { createDryRunActivities } from '../activities/dry-run';
import { validatingInterceptor } from '../activities/remote/validate';
import { describeStore, secretStoreConfig } from '../activities/secrets';
import { dryRunTaskQueue, TASK_QUEUE } from '../workflows/shared';
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

async function connect(): Promise<{ connection: NativeConnection; namespace: string }> {
  const { connectionOptions, namespace } = temporalSettings();
  const connection = await NativeConnection.connect(connectionOptions as NativeConnectionOptions).catch((err: Error) => {
    throw new WorkerSetupError(`cannot reach Temporal at ${connectionOptions.address}: ${err.message}\nset TEMPORAL_ADDRESS / TEMPORAL_PROFILE`);
  });
  return { connection, namespace };
}

const shared = {
  // Heartbeats carry the live figures and deliver cancellation: send them at least every 2 s.
  maxHeartbeatThrottleInterval: '2s',
  // A run started around the CLI (temporal workflow start) skipped the plan checks: activities check again.
  interceptors: { activity: [validatingInterceptor()] },
} satisfies Partial<WorkerOptions>;

export async function createWorker(taskQueue = process.env.CUTOVER_TASK_QUEUE ?? TASK_QUEUE): Promise<Worker> {
  const { connection, namespace } = await connect();
  return Worker.create({ connection, namespace, taskQueue, activities: createActivities(), ...shared, ...workflowSource() });
}

/**
 * The dry run's activities (`cutover plan`): the same workflows run on `taskQueue` and send their activities
 * here, where reads are real and changes are recorded, not done. It runs beside every worker, so the dry run
 * reads the hosts with the worker's keys and network reach, not the operator's.
 */
export async function createDryRunWorker(taskQueue = process.env.CUTOVER_TASK_QUEUE ?? TASK_QUEUE): Promise<Worker> {
  const { connection, namespace } = await connect();
  return Worker.create({ connection, namespace, taskQueue: dryRunTaskQueue(taskQueue), activities: createDryRunActivities(createActivities()), ...shared });
}

const USAGE = `usage: cutover-worker

Runs one cutover worker until SIGINT/SIGTERM (graceful shutdown). Configured by environment only:
  TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE   Temporal (default 127.0.0.1:7233)
  CUTOVER_TASK_QUEUE     task queue (default ${TASK_QUEUE})
  CUTOVER_GCS_ENDPOINT   GCS emulator for artifacts (default: Google Cloud Storage, Application Default Credentials)
  CUTOVER_GCS_PROJECT    GCS project (default GOOGLE_CLOUD_PROJECT)
  CUTOVER_NSUPDATE       nsupdate binary for DNS switches (default nsupdate on PATH)
  CUTOVER_SECRETS_DIR    the secret store: a directory, one file per secret name, mode 0600 (0700 directory)
  CUTOVER_SECRET_ENV     secrets from environment variables, allow-listed: name=VARIABLE,name2=VARIABLE2
                         Plans name secrets ({ secret: NAME }); the worker resolves them here and nowhere else.`;

/** The command: `cutover-worker`, `npm run worker`, and `npm run sandbox:worker` after it has set the sandbox's env. */
async function runWorker(argv: string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) return console.log(USAGE);
  if (argv.length) throw new WorkerSetupError(`unexpected arguments ${argv.join(' ')}\n\n${USAGE}`);
  // The secret store is the operator's: a malformed setting stops the worker here, not a run later.
  let store: string;
  try {
    store = describeStore(secretStoreConfig());
  } catch (err) {
    throw new WorkerSetupError((err as Error).message);
  }
  const worker = await createWorker();
  const dryRun = await createDryRunWorker(worker.options.taskQueue);
  console.log(`secrets: ${store}`);
  if (process.env.CUTOVER_GCS_ENDPOINT) console.log(`artifacts: GCS at ${process.env.CUTOVER_GCS_ENDPOINT} (CUTOVER_GCS_ENDPOINT)`);
  console.log(`cutover worker polling task queue ${worker.options.taskQueue} (namespace ${worker.options.namespace}; dry runs on ${dryRun.options.taskQueue})`);
  // Both stop on SIGINT/SIGTERM (the SDK's runtime shuts every worker down); one failing stops the other.
  await Promise.all([worker.run(), dryRun.run()]).catch((err) => {
    for (const w of [worker, dryRun]) if (w.getState() === 'RUNNING') w.shutdown();
    throw err;
  });
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
