// The postgres-failover plan (zod). Passwords are never in a plan: `password: { secret: NAME }` names one in the
// worker's secret store.
import path from 'node:path';
import { z } from 'zod';
import type { SecretRef } from '../../workflows/shared/types';
import type { PgServer, PostgresFailoverInput } from '../../workflows/postgres-failover';
import { SANDBOX_SECRETS, type SandboxEndpoints } from '../sandbox/endpoints';
import { sandboxDns, sandboxHosts } from './sandbox';
import { absolutePath, approvalSchema, artifactsSchema, dnsFields, dnsProblems, duration, formerPasswordFields, gatePolicy, gateSchema, hostSchema, ipv4, pathsOverlap, positiveDuration, secretRef, size } from './fields';
import { approverLine } from '../sandbox/people';

// At most 54 characters: the reverse move adds "_reverse" and PostgreSQL names stop at 63.
const identifier = z.string().regex(/^[a-z_][a-z0-9_]{0,53}$/, 'expected lowercase letters, digits and _ (at most 54), starting with a letter or _');
const port = z.number().int().min(1).max(65535);

const login = z
  .strictObject({
    user: z.string().min(1),
    password: secretRef.describe("the login's password, by name in the worker's secret store"),
    ...formerPasswordFields,
  })
  .transform((l): { user: string; password: SecretRef } => ({ user: l.user, password: l.password }));

/**
 * Standby settings a plan may not set: cutover writes them itself (replication, promotion, port), or they run
 * commands or load code on the server.
 */
export const RESERVED_SETTINGS = new Set([
  'primary_conninfo', 'primary_slot_name', 'promote_trigger_file', 'port', 'listen_addresses', 'wal_retrieve_retry_interval',
  'hot_standby', 'synchronous_standby_names', 'synchronous_commit', 'default_transaction_read_only', 'recovery_target',
  'recovery_target_lsn', 'recovery_target_name', 'recovery_target_time', 'recovery_target_xid', 'recovery_target_timeline',
  'recovery_target_action', 'recovery_target_inclusive', 'restore_command', 'archive_command', 'archive_cleanup_command',
  'recovery_end_command', 'ssl_passphrase_command', 'shared_preload_libraries', 'local_preload_libraries', 'session_preload_libraries',
  'dynamic_library_path', 'data_directory', 'config_file', 'hba_file', 'ident_file', 'external_pid_file', 'archive_library',
]);

const settingValue = z
  .union([z.string(), z.number(), z.boolean()])
  .refine((v) => typeof v !== 'string' || !/[\x00-\x1f\x7f]/.test(v), 'control characters (newlines, escapes) are not allowed in a setting');

const server = {
  host: z.string().min(1).describe('host alias in hosts'),
  address: ipv4,
  port: port.default(5432),
  dataDir: absolutePath,
  logFile: absolutePath.optional().describe("pg_ctl's log file on the host (default: <dataDir>.log)"),
  passfile: absolutePath.optional().describe('replication passfile written on the host when it is a standby (default: <dataDir>.pgpass)'),
  triggerFile: absolutePath.optional().describe('promote_trigger_file when it is a standby (default: <dataDir>.promote)'),
  settings: z
    .record(z.string().regex(/^[a-z_][a-z0-9_.]*$/, 'expected a setting name'), settingValue)
    .superRefine((settings, ctx) => {
      for (const name of Object.keys(settings).filter((k) => RESERVED_SETTINGS.has(k))) {
        ctx.addIssue({ code: 'custom', path: [name], message: 'set by cutover or runs commands: a plan may not set it' });
      }
    })
    .default({}),
};

export const postgresFailoverPlanSchema = z
  .strictObject({
    kind: z.literal('postgres-failover'),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a short lowercase name (a-z, 0-9, -)'),
    hosts: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), hostSchema),
    postgres: z.strictObject({
      binDir: absolutePath.default('/usr/lib/postgresql/15/bin'),
      database: z.string().min(1).default('postgres'),
      superuser: login,
      replication: login,
      // TLS verified and SCRAM only unless relaxed here; the run's figures and report show any relaxation.
      tls: z
        .strictObject({
          mode: z.enum(['verify-full', 'require', 'disable']).default('verify-full').describe('verify-full: the server\'s certificate is checked (CA and address); require: encrypted, not checked; disable: clear text'),
          ca: secretRef.optional().describe("the CA certificate (PEM) the servers' certificates are checked against, by name in the worker's secret store; absent: the worker's system CAs"),
        })
        .refine((t) => t.mode === 'verify-full' || t.ca === undefined, { message: 'ca is used only with mode verify-full', path: ['ca'] })
        .default({ mode: 'verify-full' }),
      allowPasswordAuth: z.boolean().default(false).describe('also answer servers that ask for the password in clear text or as MD5 (default: SCRAM only)'),
    }),
    primary: z.strictObject(server),
    standby: z.strictObject({
      ...server,
      overwrite: z.boolean().default(false).describe('empty a non-empty dataDir before the base backup'),
      removeOnRollback: z.boolean().default(true),
    }),
    options: z
      .strictObject({
        slotName: identifier.optional(),
        applicationName: identifier.optional(),
        baseBackup: z.strictObject({ maxRate: size.default(0) }).prefault({}),
        catchUp: z
          .strictObject({
            maxLag: size.default(1024 * 1024).refine((b) => b > 0, 'expected a lag above zero: a live primary is never exactly caught up'),
            stableFor: duration.default(5000),
            timeout: positiveDuration.default(30 * 60_000),
            onTimeout: z.enum(['rollback', 'wait']).default('rollback'),
            window: duration.default(5000),
          })
          .prefault({}),
        synchronousCommit: z.enum(['on', 'remote_write', 'remote_apply']).default('on'),
        promote: z.enum(['trigger-file', 'pg_promote']).default('trigger-file'),
        walRetrieveRetryInterval: duration.default(100),
        soak: duration.default(60_000),
        // The way back during the soak: the old primary streams from the new one (false: it stays stopped).
        reverseReplication: z
          .union([
            z.literal(false),
            z.strictObject({
              synchronous: z.boolean().default(false).describe('the new primary waits for the old one on every commit'),
              onStandbyLost: z
                .enum(['keep-writing', 'block-writes'])
                .default('keep-writing')
                .describe('synchronous only: relax to asynchronous when the old primary falls away, or let commits wait'),
              lostAfter: positiveDuration.default(3000).describe('not streaming, or a commit waiting on it, this long: lost'),
            }),
          ], { error: 'expected false (the old primary stays stopped during the soak) or a mapping { synchronous, onStandbyLost, lostAfter }' })
          .prefault({}),
      })
      .prefault({}),
    approval: approvalSchema,
    gates: z.strictObject({ cutover: gateSchema, complete: gateSchema }).prefault({}),
    traffic: z.strictObject({
      dns: z.strictObject(dnsFields),
    }),
    artifacts: artifactsSchema.optional(),
  })
  .superRefine((plan, ctx) => {
    for (const p of postgresReferenceProblems(plan)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

export type PostgresFailoverPlan = z.infer<typeof postgresFailoverPlanSchema>;

/** Cross-field checks; defensive, also run on a raw document that failed the schema elsewhere. */
export function postgresReferenceProblems(raw: unknown): { path: string[]; message: string }[] {
  const plan = (raw ?? {}) as {
    hosts?: Record<string, unknown>;
    primary?: { host?: string; address?: string; port?: number; dataDir?: string };
    standby?: { host?: string; address?: string; port?: number; dataDir?: string };
    traffic?: { dns?: { zone?: string; name?: string } };
  };
  const out: { path: string[]; message: string }[] = [];
  const hosts = plan.hosts && typeof plan.hosts === 'object' ? plan.hosts : {};
  const known = Object.keys(hosts);
  for (const side of ['primary', 'standby'] as const) {
    const host = plan[side]?.host;
    if (typeof host === 'string' && !Object.hasOwn(hosts, host)) {
      out.push({ path: [side, 'host'], message: `unknown host "${host}": hosts are ${known.join(', ') || '(none)'}` });
    }
  }
  const p = plan.primary;
  const s = plan.standby;
  if (p?.address && p.address === s?.address && (p.port ?? 5432) === (s?.port ?? 5432)) {
    out.push({ path: ['standby', 'address'], message: 'the standby must listen somewhere else than the primary' });
  }
  if (p?.host && (p.host === s?.host || (p.address && p.address === s?.address)) && typeof p.dataDir === 'string' && typeof s?.dataDir === 'string' && pathsOverlap(p.dataDir, s.dataDir)) {
    out.push({ path: ['standby', 'dataDir'], message: `the standby data directory ${s.dataDir} overlaps the primary's ${p.dataDir} on the same host` });
  }
  out.push(...dnsProblems(plan.traffic?.dns, ['traffic', 'dns']));
  if ((p?.port ?? 5432) !== (s?.port ?? 5432)) {
    // Clients follow the DNS name to the new address; the port must be the same on both sides.
    out.push({ path: ['standby', 'port'], message: 'primary and standby must use the same port: clients only follow the DNS name' });
  }
  return out;
}

const underscored = (name: string) => `cutover_${name.replace(/-/g, '_')}`.slice(0, 54);

function pgServer(s: PostgresFailoverPlan['primary']): PgServer {
  return {
    host: s.host,
    address: s.address,
    port: s.port,
    dataDir: s.dataDir.replace(/\/+$/, ''),
    logFile: s.logFile ?? `${s.dataDir.replace(/\/+$/, '')}.log`,
    passfile: s.passfile ?? `${s.dataDir.replace(/\/+$/, '')}.pgpass`,
    triggerFile: s.triggerFile ?? `${s.dataDir.replace(/\/+$/, '')}.promote`,
    settings: Object.fromEntries(Object.entries(s.settings).map(([k, v]) => [k, String(v)])),
  };
}

/** Plan (validated) → workflow input (plain data; passwords stay references). */
export function postgresFailoverInput(plan: PostgresFailoverPlan, startedBy: string): PostgresFailoverInput {
  const hosts = Object.fromEntries(Object.entries(plan.hosts).map(([name, h]) => [name, { name, ...h }]));
  const o = plan.options;
  return {
    name: plan.name,
    startedBy,
    hosts,
    access: {
      binDir: plan.postgres.binDir,
      database: plan.postgres.database,
      superuser: plan.postgres.superuser,
      replication: plan.postgres.replication,
      tls: { tlsMode: plan.postgres.tls.mode, ...(plan.postgres.tls.ca ? { ca: plan.postgres.tls.ca } : {}), allowPasswordAuth: plan.postgres.allowPasswordAuth },
    },
    primary: pgServer(plan.primary),
    standby: { ...pgServer(plan.standby), overwrite: plan.standby.overwrite, removeOnRollback: plan.standby.removeOnRollback },
    slotName: o.slotName ?? underscored(plan.name),
    applicationName: o.applicationName ?? underscored(plan.name),
    baseBackupMaxRate: o.baseBackup.maxRate,
    catchUp: {
      maxLagBytes: o.catchUp.maxLag,
      stableForMs: o.catchUp.stableFor,
      timeoutMs: o.catchUp.timeout,
      onTimeout: o.catchUp.onTimeout,
      windowMs: Math.min(Math.max(o.catchUp.window, 1000), 60_000),
    },
    synchronousCommit: o.synchronousCommit,
    promote: o.promote,
    walRetrieveRetryIntervalMs: o.walRetrieveRetryInterval,
    soakMs: o.soak,
    reverseReplication:
      o.reverseReplication === false
        ? null
        : { synchronous: o.reverseReplication.synchronous, onStandbyLost: o.reverseReplication.onStandbyLost, lostAfterMs: o.reverseReplication.lostAfter },
    approval: plan.approval,
    gates: { cutover: gatePolicy(plan.gates.cutover), complete: gatePolicy(plan.gates.complete) },
    traffic: plan.traffic,
    artifacts: plan.artifacts,
  };
}

// ---- the sandbox's sample plan ----------------------------------------------------------------------

export interface SandboxPostgresFailoverOptions {
  name: string;
  /** DNS name the move switches (pg.sandbox.internal for the demo; tests make their own). */
  dnsName: string;
  /** Defaults: the sandbox's primary (dc1/pg, port 5432) and its standby target (dc2/pg). */
  port?: number;
  primaryDataDir?: string;
  standbyDataDir?: string;
  primaryLogFile?: string;
  standbyLogFile?: string;
  /** Name of the superuser's password in the worker's secret store (default the sandbox's). */
  superuserPasswordSecret?: string;
  /** Sandbox people who approve (default alice and bob): listed with their keys. */
  approvers?: string[];
  maxLag?: string | number;
  stableFor?: string;
  catchUpTimeout?: string;
  onCatchUpTimeout?: 'rollback' | 'wait';
  soak?: string;
  gateTimeout?: string;
  onTimeout?: 'rollback' | 'wait';
  promote?: 'trigger-file' | 'pg_promote';
  maxRate?: string | number;
  overwrite?: boolean;
  synchronousCommit?: 'on' | 'remote_write' | 'remote_apply';
  /** On the standby; PostgreSQL's default is 5s. */
  walRetrieveRetryInterval?: string;
  /** The old primary during the soak (default: streams asynchronously from the new one). */
  reverseReplication?: false | { synchronous?: boolean; onStandbyLost?: 'keep-writing' | 'block-writes'; lostAfter?: string };
}

export function sandboxPostgresFailoverPlan(sb: SandboxEndpoints, o: SandboxPostgresFailoverOptions): Record<string, unknown> {
  const pg = sb.postgres;
  const port = o.port ?? pg.primary.port;
  return {
    kind: 'postgres-failover',
    name: o.name,
    hosts: sandboxHosts(sb),
    postgres: {
      binDir: pg.binDir,
      database: pg.primary.database,
      superuser: { user: pg.primary.superuser, password: { secret: o.superuserPasswordSecret ?? SANDBOX_SECRETS.pgSuperuser } },
      replication: { user: pg.replication.user, password: { secret: SANDBOX_SECRETS.pgReplicator } },
      // The sandbox's servers have certificates from its own CA (scripts/sandbox/tls.ts).
      tls: { mode: 'verify-full', ca: { secret: SANDBOX_SECRETS.ca } },
    },
    // postgresql.conf includes '../postgres-host.conf' (listen address, socket dir of each host), so a copy in
    // dc2 needs no extra settings; port and listen_addresses are written for the standby from the plan.
    primary: {
      host: 'dc1',
      address: pg.primary.host,
      port,
      dataDir: o.primaryDataDir ?? pg.primary.dataDir,
      logFile: o.primaryLogFile ?? path.join(sb.stateDir, 'logs', 'postgres-dc1.log'),
    },
    standby: {
      host: 'dc2',
      address: pg.standby.host,
      port,
      dataDir: o.standbyDataDir ?? pg.standby.dataDir,
      logFile: o.standbyLogFile ?? path.join(sb.stateDir, 'logs', 'postgres-dc2.log'),
      overwrite: o.overwrite ?? false,
      removeOnRollback: true,
    },
    options: {
      baseBackup: { maxRate: o.maxRate ?? 0 },
      catchUp: {
        maxLag: o.maxLag ?? '1MiB',
        stableFor: o.stableFor ?? '3s',
        timeout: o.catchUpTimeout ?? '5m',
        onTimeout: o.onCatchUpTimeout ?? 'rollback',
        window: '2s',
      },
      synchronousCommit: o.synchronousCommit ?? 'on',
      promote: o.promote ?? 'trigger-file',
      walRetrieveRetryInterval: o.walRetrieveRetryInterval ?? '100ms',
      soak: o.soak ?? '10s',
      ...(o.reverseReplication !== undefined ? { reverseReplication: o.reverseReplication } : {}),
    },
    // Each approver with their sandbox key (scripts/sandbox/people.ts), as allowed_signers lines.
    approval: { approvers: (o.approvers ?? ['alice', 'bob']).map((name) => approverLine(sb.stateDir, name)), requireSecondPerson: true },
    gates: {
      cutover: { ...(o.gateTimeout ? { timeout: o.gateTimeout } : {}), onTimeout: o.onTimeout ?? 'wait' },
      complete: { onTimeout: 'wait' },
    },
    traffic: { dns: sandboxDns(sb, o.dnsName) },
    artifacts: { bucket: sb.gcs.bucket, prefix: 'reports' },
  };
}
