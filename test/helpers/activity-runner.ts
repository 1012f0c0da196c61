// A test-only workflow that runs one activity with the options a test gives (a short heartbeat timeout, one
// attempt), so a test can show an activity surviving, or not, what the real worker would do to it.
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../../activities';

export interface RunActivityInput {
  name: keyof Activities;
  args: unknown[];
  heartbeatTimeoutMs: number;
  startToCloseTimeoutMs: number;
}

export async function runActivity(input: RunActivityInput): Promise<unknown> {
  const acts = proxyActivities<Record<string, (...args: unknown[]) => Promise<unknown>>>({
    heartbeatTimeout: input.heartbeatTimeoutMs,
    startToCloseTimeout: input.startToCloseTimeoutMs,
    retry: { maximumAttempts: 1 },
  });
  return acts[input.name](...input.args);
}
