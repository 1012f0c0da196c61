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
import { createActivities } from '../../activities';
import { lookupA } from '../../activities/dns';
import type { FileSyncPreflightResult } from '../../activities/files';
import type { PostgresPreflightResult } from '../../activities/postgres';
import { temporalSettings } from '../../workers/connection';
import {
  abortSignal,
  decideUpdate,
  ErrorType,
  pauseSignal,
  resumeSignal,
  statusQuery,
  TASK_QUEUE,
  type DecisionRecord,
  type DecisionValue,
  type MigrationStatus,
} from '../../workflows/shared';
import { loadPlan } from '../plans/load';
import { postgresFailoverInput, type PostgresFailoverPlan } from '../plans/postgres-schema';
import { fileSyncInput, type FileSyncPlan, type Plan } from '../plans/schema';
import type { FileSyncInput } from '../../workflows/file-sync';
import type { PostgresFailoverInput } from '../../workflows/postgres-failover';
import { UserError } from './errors';
import { formatBytes } from './format';


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

/** The workflow type and input for a validated plan. */
export function workflowFor(plan: Plan, startedBy: string): { type: string; input: FileSyncInput | PostgresFailoverInput } {
  switch (plan.kind) {
    case 'file-sync':
      return { type: 'fileSync', input: fileSyncInput(plan, startedBy) };
    case 'postgres-failover':
      return { type: 'postgresFailover', input: postgresFailoverInput(plan, startedBy) };
  }
}

// ---- plan (dry run) ------------------------------------------------------------------------------

export interface PlanReview {
  id: string;
  plan: Plan;
  preflight: FileSyncPreflightResult | PostgresPreflightResult;
  /** What preflight found, one line each. */
  facts: string[];
  steps: string[];
}

/** Validate, run the read-only preflight against the real hosts, and describe what start would do. */
export async function reviewPlan(file: string): Promise<PlanReview> {
  const plan = loadPlan(file);
  switch (plan.kind) {
    case 'file-sync':
      return reviewFileSync(file, plan);
    case 'postgres-failover':
      return reviewPostgresFailover(file, plan);
  }
}

/** A failed preflight is the user's to fix: every problem, one per line, and the promise that nothing changed. */
function preflightError(file: string, err: unknown): unknown {
  if (err instanceof ApplicationFailure && err.type === ErrorType.PreflightFailed) {
    const problems = (err.details?.[0] as string[]) ?? [err.message];
    return new UserError(`preflight of ${file} failed, nothing was changed:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return err;
}

async function reviewFileSync(file: string, plan: FileSyncPlan): Promise<PlanReview> {
  const input = fileSyncInput(plan, whoAmI());
  const activities = createActivities();
  const source = { host: input.hosts[input.source.host], path: input.source.path };
  const target = { host: input.hosts[input.target.host], path: input.target.path };
  const hookHosts = [input.hooks.freeze, input.hooks.unfreeze].filter((h) => h !== undefined).map((h) => input.hosts[h.host]);
  let preflight: FileSyncPreflightResult;
  try {
    preflight = await activities.preflightFileSync({ source, target, hookHosts });
  } catch (err) {
    throw preflightError(file, err);
  }
  const dns = await lookupA(input.traffic.dns).catch((err) => {
    throw new UserError(`traffic.dns: ${(err as Error).message}`);
  });
  if (!(dns.length === 1 && dns[0] === input.traffic.dns.from)) {
    throw new UserError(
      `traffic.dns: ${input.traffic.dns.name} resolves to ${dns.join(', ') || 'nothing'} at ${input.traffic.dns.server}:${input.traffic.dns.port}, the plan expects ${input.traffic.dns.from}`,
    );
  }
  const d = input.traffic.dns;
  const steps = [
    `copy ${input.source.host}:${input.source.path} → ${input.target.host}:${input.target.path} with rsync (target is ${preflight.targetState})`,
    `catch-up passes until one moves less than ${input.catchUp.thresholdBytes} bytes (at most ${input.catchUp.maxPasses})`,
    `wait at gate "cutover" for a go from ${input.approval.approvers.join(' or ')}${input.approval.requireSecondPerson ? ' (not the starter)' : ''}`,
    input.hooks.freeze ? `freeze writers on ${input.hooks.freeze.host}: ${input.hooks.freeze.command}` : 'no freeze hook',
    'final sync with --delete, then verify every file by checksum',
    `switch ${d.name} from ${d.from} to ${d.to} at ${d.server}:${d.port}`,
    input.hooks.unfreeze ? `unfreeze writers on ${input.hooks.unfreeze.host}: ${input.hooks.unfreeze.command} (point of no return)` : 'no unfreeze hook',
  ];
  const facts = [
    `source: ${preflight.sourceFiles} files, ${formatBytes(preflight.sourceBytes)}; target ${preflight.targetState}, ${formatBytes(preflight.targetFreeBytes)} free`,
    `${d.name} → ${dns.join(', ')}`,
  ];
  return { id: workflowIdFor(plan), plan, preflight, facts, steps };
}

async function reviewPostgresFailover(file: string, plan: PostgresFailoverPlan): Promise<PlanReview> {
  const input = postgresFailoverInput(plan, whoAmI());
  const node = (s: typeof input.primary) => ({ ...s, ssh: input.hosts[s.host] });
  let preflight: PostgresPreflightResult;
  try {
    preflight = await createActivities().preflightPostgres({
      access: input.access,
      primary: node(input.primary),
      standby: { ...node(input.standby), overwrite: input.standby.overwrite },
      slotName: input.slotName,
      applicationName: input.applicationName,
      dns: input.traffic.dns,
    });
  } catch (err) {
    throw preflightError(file, err);
  }
  const p = `${input.primary.host} (${input.primary.address}:${input.primary.port})`;
  const st = `${input.standby.host} (${input.standby.address}:${input.standby.port})`;
  const facts = [
    `primary ${p}: ${preflight.primaryVersion}, wal_level ${preflight.walLevel}, ${formatBytes(preflight.primarySizeBytes)}, ` +
      `${preflight.walSendersInUse}/${preflight.maxWalSenders} WAL senders, ${preflight.slotsInUse}/${preflight.maxReplicationSlots} slots`,
    `standby ${st}: ${input.standby.dataDir} is ${preflight.targetState}, ${formatBytes(preflight.standbyFreeBytes)} free; ${preflight.standbyBinVersion}`,
    `${input.traffic.dns.name} → ${preflight.dnsAddresses.join(', ')}; pg_rewind possible: ${preflight.rewindable ? 'yes' : 'no (wal_log_hints off, no checksums)'}`,
  ];
  const c = input.catchUp;
  const steps = [
    `create replication slot ${input.slotName} on ${p}`,
    `pg_basebackup into ${input.standby.host}:${input.standby.dataDir}${input.baseBackupMaxRate ? ` at most ${formatBytes(input.baseBackupMaxRate)}/s` : ''}` +
      `${preflight.targetState === 'non-empty' ? ' (emptying it first: standby.overwrite)' : ''}; standby config with application_name ${input.applicationName}, trigger file ${input.standby.triggerFile}`,
    `start the standby on ${st}, confirm it streams`,
    `catch up: replay lag under ${formatBytes(c.maxLagBytes)} for ${c.stableForMs / 1000} s (timeout ${c.timeoutMs / 1000} s: ${c.onTimeout})`,
    `wait at gate "cutover" for a go from ${input.approval.approvers.join(' or ')}${input.approval.requireSecondPerson ? ' (not the starter)' : ''}`,
    `synchronous_standby_names = FIRST 1 ("${input.applicationName}"), synchronous_commit = ${input.synchronousCommit}`,
    `fence ${p}: read-only, standby has all WAL, clean stop (undone if it fails: restart, read-only lifted)`,
    `promote ${st} by ${input.promote === 'trigger-file' ? `the trigger file ${input.standby.triggerFile}` : 'pg_promote()'} (point of no return), ` +
      `and at the same time switch ${input.traffic.dns.name} from ${input.primary.address} to ${input.standby.address}`,
    `soak ${input.soakMs / 1000} s, then gate "complete": go drops the old slot; no-go runs the reverse move back to ${input.primary.host}`,
  ];
  return { id: workflowIdFor(plan), plan, preflight, facts, steps };
}

// ---- start ---------------------------------------------------------------------------------------

export async function startMigration(s: Services, file: string, startedBy = whoAmI()): Promise<{ id: string; link: string }> {
  const plan = loadPlan(file);
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
