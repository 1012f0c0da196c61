// The redis-move plan (zod): schema, cross-field checks, plan → workflow input, and the sandbox's sample plan.
// Passwords are never in a plan: `password: { secret: NAME }` names one in the worker's secret store. Commands (the target's stop/start, the job system's hooks) are
// commands by design: they run on their host over SSH as the plan's SSH user.
import path from 'node:path';
import { z } from 'zod';
import type { RedisMoveInput } from '../../workflows/redis-move';
import type { SecretRef } from '../../workflows/shared/types';
import type { SandboxEndpoints } from '../sandbox/endpoints';
import { approvalSchema, artifactsSchema, dnsFields, dnsProblems, formerPasswordFields, gatePolicy, gateSchema, hostSchema, ipv4, plainText, positiveDuration, secretRef, size } from './fields';
import { sandboxDns, sandboxHosts } from './sandbox';
import { approverLine } from '../sandbox/people';

const port = z.number().int().min(1).max(65535);
const alias = z.string().min(1).describe('host alias in hosts');

/** A login to one Redis server: the password by reference (file or variable on the worker), or none. */
const server = {
  host: alias,
  address: ipv4,
  port: port.default(6379),
  username: z.string().regex(/^[A-Za-z0-9_.@-]+$/, 'expected an ACL user name').optional(),
  password: secretRef.optional().describe("the password (AUTH), by name in the worker's secret store; absent: no AUTH"),
  ...formerPasswordFields,
};

const serviceSchema = z.union([
  z.strictObject({ systemdUnit: z.string().regex(/^[A-Za-z0-9@._:-]+$/, 'expected a systemd unit name').describe('systemctl stop/start UNIT on the target host') }),
  z.strictObject({ start: plainText.describe('command that starts the target redis-server'), stop: plainText.describe('command that stops it') }),
]);

/** A gate the plan may leave out (gateSchema's default would always add it). */
const optionalGate = z.strictObject({ timeout: positiveDuration.optional(), onTimeout: z.enum(['rollback', 'wait']).default('wait') }).optional();

export const redisMovePlanSchema = z
  .strictObject({
    kind: z.literal('redis-move'),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a short lowercase name (a-z, 0-9, -)'),
    mode: z.enum(['dump', 'replicate']).describe('dump: BGSAVE, copy, load (writes paused throughout); replicate: REPLICAOF while live, pause only for the last offsets'),
    hosts: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), hostSchema),
    source: z.strictObject(server),
    target: z.strictObject({
      ...server,
      overwrite: z.boolean().default(false).describe('replace the keys a non-empty target holds'),
      service: serviceSchema.optional().describe('how to stop and start the target redis-server on its host (dump mode)'),
      loadTimeout: positiveDuration.default(10 * 60_000),
    }),
    jobs: z
      .strictObject({
        host: alias,
        pause: plainText.describe('pauses the job system; exits 0 once paused'),
        confirm: plainText.optional().describe('run until it exits 0: no job active'),
        resume: plainText.describe('resumes the job system (it follows the DNS name)'),
        timeout: positiveDuration.default(60_000),
      })
      .optional(),
    options: z
      .strictObject({
        writePause: z.strictObject({ max: positiveDuration.default(15 * 60_000) }).prefault({}),
        replicate: z
          .strictObject({
            maxLag: size.default(1024 * 1024).refine((b) => b > 0, 'expected a lag above zero: a live source is never exactly caught up'),
            timeout: positiveDuration.default(30 * 60_000),
            onTimeout: z.enum(['rollback', 'wait']).default('rollback'),
          })
          .prefault({}),
        compare: z
          .strictObject({
            connections: z.number().int().min(1).max(32).default(4),
            maxDifferences: z.number().int().min(1).max(1000).default(20),
            ttlTolerance: positiveDuration.default(2000),
            readAheadTimeout: positiveDuration
              .default(10 * 60_000)
              .describe('dump mode: the longest the pause waits for the live source to be read ahead; past it the pause starts and the reading goes on beside it'),
          })
          .prefault({}),
        archive: z.boolean().default(true).describe('dump mode: keep a copy of the dump in the artifacts bucket'),
      })
      .prefault({}),
    approval: approvalSchema,
    gates: z.strictObject({ pause: optionalGate, cutover: gateSchema, complete: optionalGate }).prefault({ cutover: { onTimeout: 'wait' } }),
    traffic: z.strictObject({ dns: z.strictObject(dnsFields) }),
    artifacts: artifactsSchema.optional(),
  })
  .superRefine((plan, ctx) => {
    for (const p of redisReferenceProblems(plan)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

export type RedisMovePlan = z.infer<typeof redisMovePlanSchema>;

/** Cross-field checks; defensive, also run on a raw document that failed the schema elsewhere. */
export function redisReferenceProblems(raw: unknown): { path: string[]; message: string }[] {
  const plan = (raw ?? {}) as {
    mode?: string;
    hosts?: Record<string, unknown>;
    source?: { host?: string; address?: string; port?: number };
    target?: { host?: string; address?: string; port?: number; service?: unknown };
    jobs?: { host?: string };
    options?: { archive?: boolean };
    gates?: { pause?: unknown };
    traffic?: { dns?: { zone?: string; name?: string } };
    artifacts?: unknown;
  };
  const out: { path: string[]; message: string }[] = [];
  const hosts = plan.hosts && typeof plan.hosts === 'object' ? plan.hosts : {};
  const known = Object.keys(hosts);
  const check = (host: unknown, where: string[]) => {
    if (typeof host === 'string' && !Object.hasOwn(hosts, host)) out.push({ path: where, message: `unknown host "${host}": hosts are ${known.join(', ') || '(none)'}` });
  };
  check(plan.source?.host, ['source', 'host']);
  check(plan.target?.host, ['target', 'host']);
  check(plan.jobs?.host, ['jobs', 'host']);
  const s = plan.source;
  const t = plan.target;
  if (s?.address && s.address === t?.address && (s.port ?? 6379) === (t?.port ?? 6379)) {
    out.push({ path: ['target', 'address'], message: 'the target must be another server than the source' });
  }
  if ((s?.port ?? 6379) !== (t?.port ?? 6379)) {
    out.push({ path: ['target', 'port'], message: 'source and target must use the same port: clients only follow the DNS name' });
  }
  if (plan.mode === 'dump' && t && typeof t === 'object' && t.service === undefined) {
    out.push({ path: ['target', 'service'], message: 'dump mode stops and starts the target: give its systemdUnit, or start and stop commands' });
  }
  if (plan.mode === 'replicate' && plan.gates?.pause !== undefined) {
    out.push({ path: ['gates', 'pause'], message: 'replicate mode asks at the cutover gate before pausing anything: a pause gate is for dump mode' });
  }
  if (plan.mode === 'dump' && plan.options?.archive !== false && plan.artifacts === undefined) {
    out.push({ path: ['options', 'archive'], message: 'archiving the dump needs the artifacts bucket (artifacts.bucket), or set archive: false' });
  }
  out.push(...dnsProblems(plan.traffic?.dns, ['traffic', 'dns']));
  return out;
}

/** Plan (validated) → workflow input (plain data; passwords stay references). */
export function redisMoveInput(plan: RedisMovePlan, startedBy: string): RedisMoveInput {
  const hosts = Object.fromEntries(Object.entries(plan.hosts).map(([name, h]) => [name, { name, ...h }]));
  const node = (n: RedisMovePlan['source']) => {
    const password: SecretRef | undefined = n.password;
    return { host: n.host, address: n.address, port: n.port, ...(n.username ? { username: n.username } : {}), ...(password ? { password } : {}) };
  };
  const svc = plan.target.service;
  const o = plan.options;
  return {
    name: plan.name,
    startedBy,
    mode: plan.mode,
    hosts,
    source: node(plan.source),
    target: {
      ...node(plan.target),
      overwrite: plan.target.overwrite,
      ...(svc
        ? { service: 'systemdUnit' in svc ? { start: `systemctl start -- ${svc.systemdUnit}`, stop: `systemctl stop -- ${svc.systemdUnit}` } : { start: svc.start, stop: svc.stop } }
        : {}),
      loadTimeoutMs: plan.target.loadTimeout,
    },
    ...(plan.jobs
      ? {
          jobs: {
            pause: { host: plan.jobs.host, command: plan.jobs.pause },
            resume: { host: plan.jobs.host, command: plan.jobs.resume },
            ...(plan.jobs.confirm ? { confirm: { host: plan.jobs.host, command: plan.jobs.confirm } } : {}),
            timeoutMs: plan.jobs.timeout,
          },
        }
      : {}),
    writePauseMaxMs: o.writePause.max,
    replicate: { maxLagBytes: o.replicate.maxLag, timeoutMs: o.replicate.timeout, onTimeout: o.replicate.onTimeout },
    compare: { connections: o.compare.connections, maxDifferences: o.compare.maxDifferences, ttlToleranceMs: o.compare.ttlTolerance, readAheadTimeoutMs: o.compare.readAheadTimeout },
    ...(plan.mode === 'dump' && o.archive && plan.artifacts ? { archive: { bucket: plan.artifacts.bucket, prefix: 'dumps' } } : {}),
    approval: plan.approval,
    gates: {
      ...(plan.gates.pause ? { pause: gatePolicy(plan.gates.pause) } : {}),
      cutover: gatePolicy(plan.gates.cutover),
      ...(plan.gates.complete ? { complete: gatePolicy(plan.gates.complete) } : {}),
    },
    traffic: plan.traffic,
    artifacts: plan.artifacts,
  };
}

// ---- the sandbox's sample plan ----------------------------------------------------------------------

export interface SandboxRedisMoveOptions {
  name: string;
  mode?: 'dump' | 'replicate';
  /** DNS name the move switches (redis.sandbox.internal for the demo; tests make their own). */
  dnsName: string;
  /** Defaults: the sandbox's pair (dc1 and dc2, port 6379, started and stopped by the sandbox's redis-ctl.sh). */
  port?: number;
  /** Name of the password in the worker's secret store (the sandbox's: <stateDir>/secrets); absent: no AUTH. */
  passwordSecret?: string;
  /** The target's control script on dc2 (`start` / `stop`); default the sandbox's. */
  targetCtl?: string;
  /** The job system's control endpoint (scripts/workload/redis-jobs.ts); absent: no job hooks. */
  jobsUrl?: string;
  /** Instead of the real pause hook (fault tests). */
  pauseCommand?: string;
  jobsTimeout?: string;
  approvers?: string[];
  overwrite?: boolean;
  complete?: boolean;
  pauseGate?: boolean;
  archive?: boolean;
  maxDifferences?: number;
}

/** The checkout's tsx and the job system's control command, as the hooks run them on dc1 (as the SSH user). */
export function jobsCtlCommand(action: 'pause' | 'resume' | 'status', url: string): string {
  const root = path.resolve(__dirname, '..', '..');
  return `cd ${root} && node_modules/.bin/tsx scripts/workload/redis-jobs-ctl.ts ${action} --url ${url}`;
}

export function sandboxRedisMovePlan(sb: SandboxEndpoints, o: SandboxRedisMoveOptions): Record<string, unknown> {
  const port = o.port ?? sb.redis.source.port;
  const login = o.passwordSecret ? { password: { secret: o.passwordSecret } } : {};
  const ctl = o.targetCtl ?? path.join(sb.stateDir, 'dc2', 'redis-ctl.sh');
  const mode = o.mode ?? 'dump';
  return {
    kind: 'redis-move',
    name: o.name,
    mode,
    hosts: sandboxHosts(sb),
    source: { host: 'dc1', address: sb.redis.source.host, port, ...login },
    target: {
      host: 'dc2',
      address: sb.redis.target.host,
      port,
      ...login,
      overwrite: o.overwrite ?? false,
      service: { start: `sh ${ctl} start`, stop: `sh ${ctl} stop` },
      loadTimeout: '2m',
    },
    ...(o.jobsUrl
      ? {
          jobs: {
            host: 'dc1',
            pause: o.pauseCommand ?? jobsCtlCommand('pause', o.jobsUrl),
            resume: jobsCtlCommand('resume', o.jobsUrl),
            timeout: o.jobsTimeout ?? '60s',
          },
        }
      : {}),
    options: {
      writePause: { max: '10m' },
      replicate: { maxLag: '1MiB', timeout: '5m', onTimeout: 'rollback' },
      compare: { connections: 4, maxDifferences: o.maxDifferences ?? 20, ttlTolerance: '2s' },
      archive: mode === 'dump' && (o.archive ?? true),
    },
    // Each approver with their sandbox key (scripts/sandbox/people.ts), as allowed_signers lines.
    approval: { approvers: (o.approvers ?? ['alice', 'bob']).map((name) => approverLine(sb.stateDir, name)), requireSecondPerson: true },
    gates: {
      ...(o.pauseGate && mode === 'dump' ? { pause: { onTimeout: 'wait' } } : {}),
      cutover: { onTimeout: 'wait' },
      ...(o.complete ? { complete: { onTimeout: 'wait' } } : {}),
    },
    traffic: { dns: sandboxDns(sb, o.dnsName) },
    artifacts: { bucket: sb.gcs.bucket, prefix: 'reports' },
  };
}
