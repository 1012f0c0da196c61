// The dry run (`cutover plan`): the move's own workflow, started with the memo `cutoverDryRun: true`, runs on
// the worker like any run, but its activities go to the dry-run task queue (reads real, changes recorded and not
// done: activities/dry-run.ts), gates say go at once, waits and sleeps are skipped, no report is stored. What
// it would do is recorded step by step from the activity summaries the workflow itself gives, and every undo it
// registers: so a step added to a workflow shows in `cutover plan` without editing any text.
import { workflowInfo } from '@temporalio/workflow';
import { DRY_RUN_MEMO, dryRunTaskQueue } from '../shared/index';
import type { DryRunRecord } from '../shared/types';

export function isDryRun(): boolean {
  return workflowInfo().memo?.[DRY_RUN_MEMO] === true;
}

/** Where a dry run's activities go. */
export function dryRunQueue(): string {
  return dryRunTaskQueue(workflowInfo().taskQueue);
}

/**
 * The record of this run's dry run. Kept on the workflow's own globalThis (the SDK gives every run its own
 * globals), reached by the Migration and by `withSummary`, which has no Migration to hand.
 */
export function dryRunRecord(): DryRunRecord {
  const g = globalThis as { __cutoverDryRun?: DryRunRecord };
  return (g.__cutoverDryRun ??= { steps: [], gates: [], compensations: [] });
}

/** A step starts: the actions recorded next belong to it. */
export function recordStep(step: string): void {
  dryRunRecord().steps.push({ step, actions: [] });
}

/** An activity the current step would run, by its summary. */
export function recordAction(summary: string): void {
  const { steps } = dryRunRecord();
  if (steps.length === 0) steps.push({ step: '(before the first step)', actions: [] });
  steps.at(-1)!.actions.push(summary);
}
