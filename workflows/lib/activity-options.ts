// Named groups of activity options: every activity has a startToClose timeout; long ones heartbeat.
import { ActivityCancellationType, proxyActivities, type ActivityInterfaceFor, type ActivityOptions } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import { nonRetryableErrorTypes } from '../shared/errors';
import { dryRunQueue, isDryRun, recordAction } from './dry-run';

/** Read-only checks: quick, a few retries for flaky networks. */
export const quickChecks: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 3, initialInterval: '1s', nonRetryableErrorTypes },
};

/** Long copies: resumable, heartbeating; a dead worker is noticed within the heartbeat timeout. */
export const longCopies: ActivityOptions = {
  startToCloseTimeout: '24 hours',
  heartbeatTimeout: '30 seconds',
  // Wait for the copy to really stop before compensating, so a rollback never races a running transfer.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 20, initialInterval: '2s', maximumInterval: '1 minute', nonRetryableErrorTypes },
};

/** Cutover steps (freeze, switch, promote): few retries, short timeouts, each one idempotent. */
export const cutoverSteps: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '1s', nonRetryableErrorTypes },
};

/** Compensations: keep trying; an undo that still fails is reported for manual intervention. */
export const compensations: ActivityOptions = {
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { maximumAttempts: 5, initialInterval: '2s', nonRetryableErrorTypes },
};

/** Steps inside a write outage (fence, promote): every second counts, so a dead worker is noticed within 10 s. */
export const outageSteps: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '10 seconds',
  // An abort mid-fence undoes the fence: that must not start before the fence activity has really stopped.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { maximumAttempts: 5, initialInterval: '500ms', maximumInterval: '5s', nonRetryableErrorTypes },
};

/** Watches (replication lag): sample a live system for a bounded window, heartbeating each sample. */
export const watches: ActivityOptions = {
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '10s', nonRetryableErrorTypes },
};

/**
 * Guards: watch a live system beside a wait and act at once when it goes wrong (a synchronous standby lost). A
 * short heartbeat timeout: a cancel reaches them within seconds, and a dead worker's guard is replaced quickly.
 */
export const guards: ActivityOptions = {
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '5 seconds',
  retry: { maximumAttempts: 10, initialInterval: '1s', maximumInterval: '10s', nonRetryableErrorTypes },
};

/**
 * Activities of one option group, each call with a one-line summary shown next to it in the Web UI
 * (`checks('look up the name').lookupDns(...)`). Summaries are user metadata: changing one never breaks replay.
 * In a dry run the call goes to the dry-run task queue and its summary is what `cutover plan` prints.
 */
export const withSummary =
  (options: ActivityOptions) =>
  (summary: string): ActivityInterfaceFor<Activities> => {
    if (!isDryRun()) return proxyActivities<Activities>({ ...options, summary });
    recordAction(summary);
    return proxyActivities<Activities>({ ...options, summary: `dry run: ${summary}`, taskQueue: dryRunQueue() });
  };

/**
 * The groups as every move calls them: `checks('look up the name').lookupDns(...)`. One place, so a move's file
 * reads as its phases and the groups cannot drift between moves.
 */
export const checks = withSummary(quickChecks);
export const copies = withSummary(longCopies);
export const steps = withSummary(cutoverSteps);
export const watch = withSummary(watches);
export const outage = withSummary(outageSteps);
export const undo = withSummary(compensations);
export const guard = withSummary(guards);
