// Messages of every cutover workflow, imported by workflows, the CLI and tests alike.
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { ReadAhead } from '../../activities/redis/compare-snapshot';
import type { AbortInput, ControlInput, DecisionInput, DecisionRecord, MigrationStatus } from './types';

// In runs with signed decisions every decision, abort, pause and resume carries `signature` (workflows/shared/signing.ts):
// an update without a valid one is refused by its validator, a signal without one is refused and recorded.

/**
 * Go/no-go through an update: the validator refuses bad decisions before anything enters history. A go that a
 * gate's go check refuses (the HDFS cutover while its parity is not clean) is accepted, recorded as refused and
 * answered with a `GoNotTaken` failure; one sent while that gate reads its evidence again answers after the read.
 */
export const decideUpdate = defineUpdate<DecisionRecord, [DecisionInput]>('decide');
/** Go/no-go through a signal, for `temporal workflow signal` and the Web UI. Invalid ones are recorded as refused. */
export const decisionSignal = defineSignal<[DecisionInput]>('decision');
/** Roll back now: honoured between steps and at gates; a running step is cancelled. */
export const abortSignal = defineSignal<[AbortInput]>('abort');
/** Hold between steps; inside an outage window (fence → switch, freeze → unfreeze) it waits for the window to close. */
export const pauseSignal = defineSignal<[ControlInput]>('pause');
export const resumeSignal = defineSignal<[ControlInput]>('resume');
export const statusQuery = defineQuery<MigrationStatus>('status');
/**
 * Sent by the redis-move's comparison activity to its own workflow once it has read the source ahead (dump mode):
 * the write pause waits for it. `attempt` tells a retried activity's report from the first one's.
 */
export const redisReadAheadSignal = defineSignal<[ReadAhead & { attempt: number }]>('redisReadAhead');
