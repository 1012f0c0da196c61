// What the CLI commands do, callable from tests and the demo without a shell.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
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
import { temporal } from '@temporalio/proto';
import { temporalSettings } from '../../workers/connection';
import {
  abortSignal,
  decideUpdate,
  DRY_RUN_MEMO,
  dryRunTaskQueue,
  ErrorType,
  pauseSignal,
  resumeSignal,
  statusQuery,
  TASK_QUEUE,
  type ApprovalPolicy,
  type DecisionRecord,
  type DecisionValue,
  type MigrationStatus,
} from '../../workflows/shared';
import { findMove, type Plan } from '../moves';
import { approvalProblem } from '../plans/fields';
import { loadPlan, PlanError } from '../plans/load';
import { UserError } from './errors';
import { decisionWaitLine } from './format';
import { defaultSigningKey, publicKeyOf, signAction } from './signing';


export interface Services {
  client: Client;
  uiUrl: string;
  namespace: string;
  taskQueue: string;
  /** Signing key file by person, for callers acting for several people (demo, tests); else --key or the default. */
  signingKeys?: Record<string, string>;
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Who acts: the Temporal client identity names them in history (signals, updates, starts). */
  identity?: string;
  signingKeys?: Record<string, string>;
}

/** The client identity for a person using the CLI on this machine. */
export function identityFor(person: string): string {
  return `${person}@${os.hostname()} (cutover CLI, pid ${process.pid})`;
}

export async function connect(opts: ConnectOptions = {}): Promise<Services> {
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
    client: new Client({ connection, namespace, ...(opts.identity ? { identity: opts.identity } : {}) }),
    uiUrl: process.env.CUTOVER_UI_URL ?? 'http://127.0.0.1:8233',
    namespace,
    taskQueue: process.env.CUTOVER_TASK_QUEUE ?? TASK_QUEUE,
    ...(opts.signingKeys ? { signingKeys: opts.signingKeys } : {}),
    close: () => connection.close(),
  };
}

/** The key `by` signs with: given (--key), the caller's for that person, $CUTOVER_SIGNING_KEY, ~/.ssh/id_ed25519. */
export function signingKeyFor(s: Pick<Services, 'signingKeys'>, by: string, key?: string): string {
  return key ?? s.signingKeys?.[by] ?? defaultSigningKey();
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

export interface PlanReview {
  /** The id `start` would give the run. */
  id: string;
  plan: Plan;
  /** The dry run's own workflow id (its history is in the Web UI like any run's). */
  dryRunId: string;
  /** The dry run's final status: steps, gates and compensations as the workflow recorded them. */
  status: MigrationStatus;
}

/**
 * Validate, then run the move's own workflow as a dry run on a worker (which holds the keys and reaches the
 * hosts): its read-only steps read the real hosts, every change is recorded and not done. What it prints comes
 * from that run, so it cannot drift from what `start` does.
 */
export async function reviewPlan(s: Services, file: string, startedBy = whoAmI()): Promise<PlanReview> {
  const plan = loadPlanFor(file, startedBy);
  const move = findMove(plan.kind)!;
  await requireWorker(s, dryRunTaskQueue(s.taskQueue), 'dry runs');
  const dryRunId = `${workflowIdFor(plan)}-plan-${randomUUID().slice(0, 8)}`;
  await s.client.workflow.start(move.workflowType, {
    workflowId: dryRunId,
    taskQueue: s.taskQueue,
    args: [move.toInput(plan, startedBy) as never],
    memo: { [DRY_RUN_MEMO]: true },
    workflowExecutionTimeout: '10 minutes',
    staticSummary: `dry run of ${plan.kind} ${plan.name} (cutover plan ${path.basename(file)}), for ${startedBy}`,
  });
  const h = handle(s, dryRunId);
  const status = await h.result().then(
    (r) => r as MigrationStatus,
    (err) => {
      const problems = preflightProblems(err);
      if (problems) throw new UserError(`preflight of ${file} failed, nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
      const details = err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure ? (err.cause.details?.[0] as MigrationStatus | undefined) : undefined;
      throw new UserError(`the dry run of ${file} failed, nothing was changed: ${details?.failure ?? (err as Error).message} (see ${uiLink(s, dryRunId)})`);
    },
  );
  return { id: workflowIdFor(plan), plan, dryRunId, status };
}

/** The problems a failed preflight listed, found along the failure's causes. */
function preflightProblems(err: unknown): string[] | null {
  for (let e = err as { cause?: unknown } | undefined; e; e = e.cause as typeof e) {
    if (e instanceof ApplicationFailure && e.type === ErrorType.PreflightFailed) return (e.details?.[0] as string[]) ?? [e.message];
  }
  return null;
}

/** Refuse at once, with the next step, when no worker polls `taskQueue` (the run would wait for one forever). */
async function requireWorker(s: Services, taskQueue: string, what: string): Promise<void> {
  const r = await s.client.workflowService.describeTaskQueue({
    namespace: s.namespace,
    taskQueue: { name: taskQueue },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  if (!r.pollers?.length) {
    throw new UserError(`no cutover worker polls task queue ${taskQueue} (${what}): start one with \`cutover-worker\` (or \`npm run sandbox:worker\` on the sandbox)`);
  }
}

/** A valid plan that `startedBy` may start: someone else must be able to approve it. */
function loadPlanFor(file: string, startedBy: string): Plan {
  const plan = loadPlan(file);
  const why = approvalProblem(plan.approval, startedBy);
  if (why) throw new PlanError(file, [why]);
  return plan;
}

export async function startMigration(s: Services, file: string, startedBy = whoAmI(), key?: string): Promise<{ id: string; link: string }> {
  const plan = loadPlanFor(file, startedBy);
  const id = workflowIdFor(plan);
  const { type, input } = workflowFor(plan, startedBy);
  // A starter who is not an approver brings their public key: with it they may abort, pause and resume their run.
  const approval = (input as { approval: ApprovalPolicy }).approval;
  if (!approval.approvers.includes(startedBy)) {
    approval.starter = { name: startedBy, key: await publicKeyOf(signingKeyFor(s, startedBy, key)) };
  }
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

/**
 * A decision at a gate, signed with `by`'s key over what the gate shows now (its evidence, as `cutover status`
 * prints it): the workflow checks the signature before it takes the decision.
 */
export async function decide(
  s: Services,
  id: string,
  gate: string,
  decision: DecisionValue,
  by: string,
  reason?: string,
  note?: string,
  key?: string,
  waiting?: DecisionWait,
): Promise<DecisionRecord> {
  return notFound(id, async () => {
    const { status, running } = await getStatus(s, id);
    if (!running) throw new UserError(`${decision} refused: migration ${id} has finished (${status.outcome ?? 'ended'}); no gate is open`);
    const signature = await signAction(status, { gate, decision, by, reason, note }, signingKeyFor(s, by, key));
    const sent = handle(s, id).executeUpdate(decideUpdate, { args: [{ gate, decision, by, reason, ...(note ? { note } : {}), ...(signature ? { signature } : {}) }] });
    const stop = waiting ? tellOnceIfSlow(s, id, gate, decision, waiting) : () => undefined;
    try {
      return await sent;
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
    } finally {
      stop();
    }
  });
}

/** Told once when a decision is not answered within `afterMs` (2 s by default): what it waits for. */
export interface DecisionWait {
  print: (line: string) => void;
  afterMs?: number;
}

/**
 * After `afterMs` without an answer, read the status and print once what the decision waits for (a go held until
 * the gate's running read ends, as at the HDFS cutover during a cycle). Returns the function that stops it.
 */
function tellOnceIfSlow(s: Services, id: string, gate: string, decision: string, w: DecisionWait): () => void {
  const afterMs = w.afterMs ?? 2000;
  let answered = false;
  const timer = setTimeout(() => {
    void getStatus(s, id)
      .then((r) => r.status, () => null)
      .then((st) => {
        if (!answered) w.print(decisionWaitLine(id, st, gate, decision, afterMs));
      });
  }, afterMs);
  return () => {
    answered = true;
    clearTimeout(timer);
  };
}

/**
 * Abort, pause and resume are signals (a run busy in a step still takes them), signed like decisions. The
 * workflow refuses and records one that is not signed by the starter or an approver.
 */
export async function abortMigration(s: Services, id: string, by: string, reason: string, key?: string): Promise<'taken' | 'sent'> {
  return notFound(id, async () => {
    const h = handle(s, id);
    const { status, running } = await getStatus(s, id);
    if (!running) throw new UserError(`migration ${id} is not running (${status.outcome ?? 'ended'})`);
    const signature = await signAction(status, { gate: null, decision: 'abort', by, reason }, signingKeyFor(s, by, key));
    await h.signal(abortSignal, { by, reason, ...(signature ? { signature } : {}) });
    return answerTo(s, id, status, 'abort', by, (st) => st.abort?.by === by || st.wayBack?.abort?.by === by);
  });
}

export async function setPaused(s: Services, id: string, paused: boolean, by: string, key?: string): Promise<'taken' | 'sent'> {
  return notFound(id, async () => {
    const { status, running } = await getStatus(s, id);
    if (!running) throw new UserError(`migration ${id} is not running (${status.outcome ?? 'ended'})`);
    const action = paused ? 'pause' : 'resume';
    const signature = await signAction(status, { gate: null, decision: action, by }, signingKeyFor(s, by, key));
    await handle(s, id).signal(paused ? pauseSignal : resumeSignal, { by, ...(signature ? { signature } : {}) });
    const taken = (status.controls ?? []).length;
    return answerTo(s, id, status, action, by, (st) => (st.controls ?? []).length > taken || (st.controls ?? []).at(-1)?.at !== status.controls?.at(-1)?.at);
  });
}

/**
 * A signal has no answer of its own: read the run's status until it shows the signal taken, or refused (then a
 * user error with the workflow's reason). A run that does not answer within a few seconds (no worker) is left be.
 */
async function answerTo(s: Services, id: string, before: MigrationStatus, action: string, by: string, taken: (st: MigrationStatus) => boolean): Promise<'taken' | 'sent'> {
  if (!before.signing) return 'sent';
  const refusals = (st: MigrationStatus) => st.refusedDecisions.length + (st.refusedDropped ?? 0);
  for (const deadline = Date.now() + 5000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
    const { status, running } = await getStatus(s, id);
    const added = refusals(status) - refusals(before);
    const fresh = added > 0 ? status.refusedDecisions.slice(-added) : [];
    const refused = fresh.find((r) => r.decision === action && r.by === by);
    if (refused) throw new UserError(`${action} refused: ${refused.why}`);
    if (taken(status)) return 'taken';
    if (!running) return 'sent';
  }
  return 'sent';
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
