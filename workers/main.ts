// `npm run worker`: one worker on task queue `cutover` with every workflow and activity. Run more of them
// (on more machines) against the same Temporal cluster to scale out: Temporal spreads the work.
// SIGINT/SIGTERM shut it down gracefully (the SDK's runtime handles both: running activities finish or are
// cancelled, nothing is lost: their workflows resume on another worker).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { NativeConnection, Worker, type NativeConnectionOptions, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { validatingInterceptor } from '../activities/remote/validate';
import { applySandboxWorkerEnv } from '../scripts/sandbox/endpoints';
import { TASK_QUEUE } from '../workflows/shared';
import { temporalSettings } from './connection';

export const workflowBundlePath = path.resolve(__dirname, '..', 'dist', 'workflow-bundle.js');

/** Production uses the pre-built bundle (`npm run build:workflows`); development bundles at start. */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  const production = process.env.NODE_ENV === 'production';
  if (production) {
    if (!existsSync(workflowBundlePath)) {
      throw new Error(`NODE_ENV=production needs the pre-built bundle ${workflowBundlePath}: run \`npm run build:workflows\``);
    }
    return { workflowBundle: { codePath: workflowBundlePath } };
  }
  return { workflowsPath: require.resolve('../workflows') };
}

export async function createWorker(taskQueue = process.env.CUTOVER_TASK_QUEUE ?? TASK_QUEUE): Promise<Worker> {
  if (applySandboxWorkerEnv()) console.error(`artifacts: the sandbox's GCS emulator at ${process.env.CUTOVER_GCS_ENDPOINT}`);
  const { connectionOptions, namespace } = temporalSettings();
  const connection = await NativeConnection.connect(connectionOptions as NativeConnectionOptions);
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

async function main(): Promise<void> {
  const worker = await createWorker();
  console.log(`cutover worker polling task queue ${worker.options.taskQueue} (namespace ${worker.options.namespace})`);
  await worker.run();
  console.log('cutover worker stopped');
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
