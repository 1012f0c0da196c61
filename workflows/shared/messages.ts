// Messages of every cutover workflow, imported by workflows, the CLI and tests alike.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { AbortInput, DecisionInput, DecisionRecord, MigrationStatus } from './types';

/** Go/no-go through an update: the validator refuses bad decisions before anything enters history. */
export const decideUpdate = defineUpdate<DecisionRecord, [DecisionInput]>('decide');
/** Go/no-go through a signal, for `temporal workflow signal` and the Web UI. Invalid ones are recorded as refused. */
export const decisionSignal = defineSignal<[DecisionInput]>('decision');
/** Roll back now: honoured between steps and at gates; a running step is cancelled. */
export const abortSignal = defineSignal<[AbortInput]>('abort');
export const pauseSignal = defineSignal<[{ by: string }]>('pause');
export const resumeSignal = defineSignal<[{ by: string }]>('resume');
export const statusQuery = defineQuery<MigrationStatus>('status');
