// The file-sync plan (zod): schema, cross-field checks, plan → workflow input, and the sandbox's sample plan.
import { z } from 'zod';
import type { FileSyncInput } from '../../workflows/file-sync';
import { absolutePath, approvalSchema, artifactsSchema, dnsFields, dnsProblems, duration, gatePolicy, gateSchema, hostSchema, ipv4, pathsOverlap, size } from './fields';
import type { SandboxEndpoints } from '../sandbox/endpoints';
import { sandboxDns, sandboxHosts } from './sandbox';
import { approverLine } from '../sandbox/people';

const hookSchema = z.strictObject({ host: z.string().min(1), command: z.string().min(1) });

/**
 * Without a freeze, writers run through the final sync: what they write after it is lost (or, with the fence,
 * fails). So a plan stops them, or says why it need not: `freeze: { waived: "nothing writes: nightly export" }`.
 */
const freezeSchema = z.union([
  hookSchema,
  z.strictObject({ waived: z.string().trim().min(10, 'expected the reason the freeze is waived (at least 10 characters): who guarantees nothing writes?') }),
]);

const dnsSchema = z.strictObject({ ...dnsFields, from: ipv4, to: ipv4 });

/** rsync filter patterns that match every file: the move would copy nothing and --delete would empty the target. */
const EVERYTHING = new Set(['*', '**', '***', '/*', '/**', '/***', '/', '.', './', '*/', '**/']);

export const fileSyncPlanSchema = z
  .strictObject({
    kind: z.literal('file-sync'),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a short lowercase name (a-z, 0-9, -)'),
    hosts: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), hostSchema),
    source: z.strictObject({ host: z.string(), path: absolutePath }),
    target: z.strictObject({
      host: z.string(),
      path: absolutePath,
      removeOnRollback: z.boolean().default(false),
      overwrite: z.boolean().default(false).describe('copy into a target directory that already has files (they may be replaced or deleted)'),
    }),
    options: z
      .strictObject({
        exclude: z
          .array(z.string().min(1).refine((e) => !EVERYTHING.has(e.trim()), 'this pattern excludes every file'))
          .default([]),
        catchUp: z
          .strictObject({
            threshold: size.default(1024 * 1024).refine((b) => b > 0, 'expected a threshold above zero: a live tree never has a pass that moves nothing'),
            maxPasses: z.number().int().min(1).max(1000).default(10),
            pauseBetweenPasses: duration.default(5000),
          })
          .prefault({}),
        bandwidthLimitKBps: z.number().int().min(0).default(0),
        holdWritersForTtl: z
          .boolean()
          .default(false)
          .describe("keep writers frozen until the record's TTL has passed since the switch (else the fence makes late writes to dc1 fail)"),
      })
      .prefault({}),
    hooks: z.strictObject(
      { freeze: freezeSchema, unfreeze: hookSchema.optional() },
      { error: (i) => (i.input === undefined ? 'expected hooks.freeze (the command that stops writers), or freeze: { waived: REASON }' : undefined) },
    ),
    approval: approvalSchema,
    gates: z.strictObject({ cutover: gateSchema }).prefault({}),
    traffic: z.strictObject({ dns: dnsSchema }),
    artifacts: artifactsSchema.optional(),
  })
  .superRefine((plan, ctx) => {
    for (const p of referenceProblems(plan)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

/**
 * Cross-field checks (host aliases, distinct endpoints). Also run on the raw document when the schema fails
 * elsewhere, so a user sees every problem at once. Defensive: the input may be anything.
 */
export function referenceProblems(raw: unknown): { path: string[]; message: string }[] {
  const plan = (raw ?? {}) as {
    hosts?: Record<string, { address?: unknown } | undefined>;
    source?: { host?: string; path?: string };
    target?: { host?: string; path?: string };
    hooks?: { freeze?: { host?: string }; unfreeze?: { host?: string } };
    options?: { holdWritersForTtl?: boolean };
    traffic?: { dns?: { from?: string; to?: string; zone?: string; name?: string } };
  };
  const out: { path: string[]; message: string }[] = [];
  const hosts = plan.hosts && typeof plan.hosts === 'object' ? plan.hosts : {};
  const known = Object.keys(hosts);
  const check = (host: unknown, path: string[]) => {
    if (typeof host === 'string' && !Object.hasOwn(hosts, host)) {
      out.push({ path, message: `unknown host "${host}": hosts are ${known.join(', ') || '(none)'}` });
    }
  };
  check(plan.source?.host, ['source', 'host']);
  check(plan.target?.host, ['target', 'host']);
  check(plan.hooks?.freeze?.host, ['hooks', 'freeze', 'host']);
  check(plan.hooks?.unfreeze?.host, ['hooks', 'unfreeze', 'host']);
  // One machine: the same alias, or two aliases for one address. rsync --delete into a directory that holds
  // the source, or lies inside it, would delete the source.
  const { source, target } = plan;
  const address = (alias: string | undefined) => (alias ? (hosts[alias]?.address ?? alias) : undefined);
  const sameHost = source?.host !== undefined && (source.host === target?.host || address(source.host) === address(target?.host));
  if (sameHost && typeof source?.path === 'string' && typeof target?.path === 'string' && pathsOverlap(source.path, target.path)) {
    out.push({ path: ['target', 'path'], message: `target ${target.path} overlaps the source ${source.path} on the same host: one would overwrite or delete the other` });
  }
  out.push(...dnsProblems(plan.traffic?.dns, ['traffic', 'dns']));
  if (plan.options?.holdWritersForTtl === true && !plan.hooks?.unfreeze) {
    out.push({ path: ['options', 'holdWritersForTtl'], message: 'holding writers needs hooks.unfreeze: without it nothing starts them again' });
  }
  if (plan.traffic?.dns?.from && plan.traffic.dns.from === plan.traffic.dns.to) {
    out.push({ path: ['traffic', 'dns', 'to'], message: 'traffic.dns.to must differ from traffic.dns.from' });
  }
  return out;
}

export type FileSyncPlan = z.infer<typeof fileSyncPlanSchema>;

/** Plan (validated) → workflow input (plain data; secrets stay references). */
export function fileSyncInput(plan: FileSyncPlan, startedBy: string): FileSyncInput {
  const hosts = Object.fromEntries(Object.entries(plan.hosts).map(([name, h]) => [name, { name, ...h }]));
  return {
    name: plan.name,
    startedBy,
    hosts,
    source: plan.source,
    target: plan.target,
    exclude: plan.options.exclude,
    catchUp: {
      thresholdBytes: plan.options.catchUp.threshold,
      maxPasses: plan.options.catchUp.maxPasses,
      pauseBetweenPassesMs: plan.options.catchUp.pauseBetweenPasses,
    },
    bandwidthLimitKBps: plan.options.bandwidthLimitKBps,
    hooks: {
      ...('waived' in plan.hooks.freeze ? { freezeWaived: plan.hooks.freeze.waived } : { freeze: plan.hooks.freeze }),
      ...(plan.hooks.unfreeze ? { unfreeze: plan.hooks.unfreeze } : {}),
    },
    holdWritersForTtl: plan.options.holdWritersForTtl,
    approval: plan.approval,
    gates: { cutover: gatePolicy(plan.gates.cutover) },
    traffic: plan.traffic,
    artifacts: plan.artifacts,
  };
}

// ---- the sandbox's sample plan ----------------------------------------------------------------------

export interface SandboxFileSyncOptions {
  name: string;
  sourceDir: string;
  targetDir: string;
  /** DNS name switched by the move, inside the sandbox zone. */
  dnsName: string;
  /** Sandbox people who approve (default alice and bob): listed with their keys. */
  approvers?: string[];
  /**
   * Flag file writers watch: the freeze hook creates it (and, with `awaitWriter`, the default, waits for the
   * live writer's acknowledgement), the unfreeze hook removes it. Without it the plan waives the freeze: nothing
   * but the test or benchmark itself writes to the tree.
   */
  freezeFlag?: string;
  awaitWriter?: boolean;
  /** Keep writers frozen for the record's TTL after the switch. */
  holdWritersForTtl?: boolean;
  /** TTL of the switched record, in seconds (default 1). */
  ttl?: number;
  thresholdBytes?: number;
  bandwidthLimitKBps?: number;
  gateTimeout?: string;
  onTimeout?: 'rollback' | 'wait';
}

export function sandboxFileSyncPlan(sb: SandboxEndpoints, o: SandboxFileSyncOptions): Record<string, unknown> {
  const flag = o.freezeFlag;
  const hooks = flag
    ? {
        // Stop writers: raise the flag (then wait until the writer acknowledges it has stopped).
        freeze: {
          host: 'dc1',
          command:
            o.awaitWriter === false
              ? `touch ${flag}`
              : `touch ${flag} && for i in $(seq 100); do [ -e ${flag}.ack ] && exit 0; sleep 0.1; done; echo 'writer did not stop' >&2; exit 1`,
        },
        unfreeze: { host: 'dc1', command: `rm -f ${flag} ${flag}.ack` },
      }
    : { freeze: { waived: 'sandbox tree: nothing but the test or benchmark that made it writes to it' } };
  return {
    kind: 'file-sync',
    name: o.name,
    hosts: sandboxHosts(sb),
    source: { host: 'dc1', path: o.sourceDir },
    target: { host: 'dc2', path: o.targetDir, removeOnRollback: true },
    options: {
      exclude: ['*.tmp', '.cache/'],
      catchUp: { threshold: o.thresholdBytes ?? 256 * 1024, maxPasses: 10, pauseBetweenPasses: '1s' },
      bandwidthLimitKBps: o.bandwidthLimitKBps ?? 0,
      ...(o.holdWritersForTtl ? { holdWritersForTtl: true } : {}),
    },
    hooks,
    // Each approver with their sandbox key (scripts/sandbox/people.ts), as allowed_signers lines.
    approval: { approvers: (o.approvers ?? ['alice', 'bob']).map((name) => approverLine(sb.stateDir, name)), requireSecondPerson: true },
    gates: { cutover: { ...(o.gateTimeout ? { timeout: o.gateTimeout } : {}), onTimeout: o.onTimeout ?? 'wait' } },
    traffic: {
      dns: {
        ...sandboxDns(sb, o.dnsName),
        ...(o.ttl !== undefined ? { ttl: o.ttl } : {}),
        from: sb.hosts.dc1.address,
        to: sb.hosts.dc2.address,
      },
    },
    artifacts: { bucket: sb.gcs.bucket, prefix: 'reports' },
  };
}
