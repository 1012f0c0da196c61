// What the CLI commands do, callable from tests and the demo without a shell.
import os from 'node:os';
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  ServiceError,
  type WorkflowHandle,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporalSettings } from '../../workers/connection';
import {
  abortSignal,
  decideUpdate,
  pauseSignal,
  resumeSignal,
  statusQuery,
  TASK_QUEUE,
  type DecisionRecord,
  type DecisionValue,
  type MigrationStatus,
} from '../../workflows/shared';
import { findMove, type Plan } from '../moves';
import type { PlanReview as MoveReview } from '../moves/move';
import { approvalProblem } from '../plans/fields';
import { loadPlan, PlanError } from '../plans/load';
import { UserError } from './errors';


export interface Services {
  client: Client;
  uiUrl: string;
  namespace: string;
  taskQueue: string;
  close(): Promise<void>;
}

export async function connect(): Promise<Services> {
  const { connectionOptions, namespace } = temporalSettings();
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...connectionOptions, connectTimeout: '5s' });
  } catch (err) {
    throw new UserError(
      `cannot reach Temporal at ${connectionOptions.address}: ${(err as Error).message}\n` +
        'start the sandbox (`npm run sandbox:up`) or set TEMPORAL_ADDRESS / TEMPORAL_PROFILE',
    );
  }
  return {
    client: new Client({ connection, namespace }),
    uiUrl: process.env.CUTOVER_UI_URL ?? 'http://127.0.0.1:8233',
    namespace,
    taskQueue: process.env.CUTOVER_TASK_QUEUE ?? TASK_QUEUE,
    close: () => connection.close(),
  };
}

export function whoAmI(): string {
  return process.env.CUTOVER_USER ?? os.userInfo().username;
}

export function workflowIdFor(plan: Plan): string {
  return `${plan.kind}-${plan.name}`;
}

export function uiLink(s: Pick<Services, 'uiUrl' | 'namespace'>, id: string): string {
  return `${s.uiUrl}/namespaces/${encodeURIComponent(s.namespace)}/workflows/${encodeURIComponent(id)}`;
}

/** The workflow type and input for a validated plan, from its move in the registry. */
export function workflowFor(plan: Plan, startedBy: string): { type: string; input: unknown } {
  const move = findMove(plan.kind)!;
  return { type: move.workflowType, input: move.toInput(plan, startedBy) };
}

// ---- plan (dry run) ------------------------------------------------------------------------------

export interface PlanReview extends MoveReview {
  id: string;
  plan: Plan;
}

/** Validate, run the read-only preflight against the real hosts, and describe what start would do. */
export async function reviewPlan(file: string, startedBy = whoAmI()): Promise<PlanReview> {
  const plan = loadPlanFor(file, startedBy);
  const review = await findMove(plan.kind)!.review(plan, { file, startedBy });
  return { id: workflowIdFor(plan), plan, ...review };
}

// ---- start ---------------------------------------------------------------------------------------

/** A valid plan that `startedBy` may start: someone else must be able to approve it. */
function loadPlanFor(file: string, startedBy: string): Plan {
  const plan = loadPlan(file);
  const why = approvalProblem(plan.approval, startedBy);
  if (why) throw new PlanError(file, [why]);
  return plan;
}

export async function startMigration(s: Services, file: string, startedBy = whoAmI()): Promise<{ id: string; link: string }> {
  const plan = loadPlanFor(file, startedBy);
  const id = workflowIdFor(plan);
  const { type, input } = workflowFor(plan, startedBy);
  try {
    await s.client.workflow.start(type, {
      workflowId: id,
      taskQueue: s.taskQueue,
      args: [input],
      // A running or completed migration of the same thing is never started twice; a rolled-back one may be retried.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
      staticSummary: `${plan.kind} ${plan.name}, started by ${startedBy}`,
      staticDetails: `Plan: ${file}\n\n${plan.kind} \`${plan.name}\`, approvers: ${plan.approval.approvers.join(', ')}`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new UserError(`migration ${id} was already started (running or completed): see \`cutover status ${id}\``);
    }
    throw err;
  }
  return { id, link: uiLink(s, id) };
}

// ---- reading state -------------------------------------------------------------------------------

function handle(s: Services, id: string): WorkflowHandle {
  return s.client.workflow.getHandle(id);
}

async function notFound<T>(id: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError || (err instanceof ServiceError && /not found/i.test(err.message))) {
      throw new UserError(`unknown migration id ${id}: see \`cutover list\``);
    }
    throw err;
  }
}

/** Status of a running migration (query) or of a finished one (its result or failure details). */
export async function getStatus(s: Services, id: string): Promise<{ status: MigrationStatus; running: boolean }> {
  return notFound(id, async () => {
    const h = handle(s, id);
    const desc = await h.describe();
    if (desc.status.name === 'RUNNING') return { status: await h.query(statusQuery), running: true };
    try {
      return { status: (await h.result()) as MigrationStatus, running: false };
    } catch (err) {
      const details = err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure ? err.cause.details : undefined;
      if (details?.[0]) return { status: details[0] as MigrationStatus, running: false };
      throw new UserError(`migration ${id} ended ${desc.status.name} without a status record: ${(err as Error).message}`);
    }
  });
}

export interface ListedMigration {
  id: string;
  kind: string;
  phase: string;
  status: string;
  startTime: Date;
}

export async function listMigrations(s: Services, limit = 50): Promise<ListedMigration[]> {
  const out: ListedMigration[] = [];
  for await (const w of s.client.workflow.list({ query: `TaskQueue = "${s.taskQueue}"` })) {
    out.push({
      id: w.workflowId,
      kind: String(w.searchAttributes?.CutoverKind?.[0] ?? w.type),
      phase: String(w.searchAttributes?.CutoverPhase?.[0] ?? ''),
      status: w.status.name,
      startTime: w.startTime,
    });
    if (out.length >= limit) break;
  }
  return out;
}

/** Heartbeat details of the running activities: the live figures (bytes, files, lag). */
export async function liveProgress(s: Services, id: string): Promise<{ activity: string; attempt: number; details: unknown }[]> {
  const desc = await handle(s, id).describe();
  const raw = desc.raw.pendingActivities ?? [];
  const { defaultPayloadConverter } = await import('@temporalio/common');
  return raw.map((a) => ({
    activity: a.activityType?.name ?? '?',
    attempt: a.attempt ?? 1,
    details: a.heartbeatDetails?.payloads?.[0] ? defaultPayloadConverter.fromPayload(a.heartbeatDetails.payloads[0]) : null,
  }));
}

// ---- decisions -----------------------------------------------------------------------------------

export async function decide(
  s: Services,
  id: string,
  gate: string,
  decision: DecisionValue,
  by: string,
  reason?: string,
): Promise<DecisionRecord> {
  return notFound(id, async () => {
    try {
      return await handle(s, id).executeUpdate(decideUpdate, { args: [{ gate, decision, by, reason }] });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError) {
        throw new UserError(`${decision} refused: ${(err.cause as Error | undefined)?.message ?? err.message}`);
      }
      if (err instanceof WorkflowNotFoundError || (err instanceof ServiceError && /already completed|not found/i.test(err.message))) {
        // Updates reach running workflows only: tell a finished migration from an unknown id.
        const desc = await handle(s, id).describe();
        throw new UserError(`${decision} refused: migration ${id} has finished (${desc.status.name}); no gate is open`);
      }
      throw err;
    }
  });
}

export async function abortMigration(s: Services, id: string, by: string, reason: string): Promise<void> {
  await notFound(id, async () => {
    const h = handle(s, id);
    const desc = await h.describe();
    if (desc.status.name !== 'RUNNING') throw new UserError(`migration ${id} is not running (${desc.status.name})`);
    await h.signal(abortSignal, { by, reason });
  });
}

export async function setPaused(s: Services, id: string, paused: boolean, by: string): Promise<void> {
  await notFound(id, () => handle(s, id).signal(paused ? pauseSignal : resumeSignal, { by }));
}

/** Wait for the end of a run; resolves with the final status whether it completed or rolled back. */
export async function waitForEnd(s: Services, id: string): Promise<MigrationStatus> {
  const h = handle(s, id);
  try {
    return (await h.result()) as MigrationStatus;
  } catch (err) {
    const details = err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure ? err.cause.details : undefined;
    if (details?.[0]) return details[0] as MigrationStatus;
    throw err;
  }
}
