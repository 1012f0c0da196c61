// Plan schemas (zod): the boundary where user input becomes plain workflow input.
import { z } from 'zod';
import type { FileSyncInput } from '../../workflows/file-sync';
import { absolutePath, approvalSchema, artifactsSchema, duration, gatePolicy, gateSchema, hostSchema, ipv4, size } from './fields';
import { postgresFailoverPlanSchema, postgresReferenceProblems, type PostgresFailoverPlan } from './postgres-schema';

export { artifactsSchema, hostSchema } from './fields';

const hookSchema = z.strictObject({ host: z.string().min(1), command: z.string().min(1) });

const dnsSchema = z.strictObject({
  server: ipv4,
  port: z.number().int().min(1).max(65535).default(53),
  zone: z.string().min(1),
  tsigKeyFile: absolutePath.describe('TSIG key file for dynamic updates'),
  name: z.string().min(1),
  ttl: z.number().int().min(0).default(30),
  from: ipv4,
  to: ipv4,
});

export const fileSyncPlanSchema = z
  .strictObject({
    kind: z.literal('file-sync'),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a short lowercase name (a-z, 0-9, -)'),
    hosts: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), hostSchema),
    source: z.strictObject({ host: z.string(), path: absolutePath }),
    target: z.strictObject({ host: z.string(), path: absolutePath, removeOnRollback: z.boolean().default(false) }),
    options: z
      .strictObject({
        exclude: z.array(z.string().min(1)).default([]),
        catchUp: z
          .strictObject({
            threshold: size.default(1024 * 1024),
            maxPasses: z.number().int().min(1).max(1000).default(10),
            pauseBetweenPasses: duration.default(5000),
          })
          .prefault({}),
        bandwidthLimitKBps: z.number().int().min(0).default(0),
      })
      .prefault({}),
    hooks: z.strictObject({ freeze: hookSchema.optional(), unfreeze: hookSchema.optional() }).default({}),
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
    hosts?: Record<string, unknown>;
    source?: { host?: string; path?: string };
    target?: { host?: string; path?: string };
    hooks?: { freeze?: { host?: string }; unfreeze?: { host?: string } };
    traffic?: { dns?: { from?: string; to?: string } };
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
  if (plan.source?.host && plan.source.host === plan.target?.host && plan.source.path === plan.target?.path) {
    out.push({ path: ['target', 'path'], message: 'target is the same directory as the source' });
  }
  if (plan.traffic?.dns?.from && plan.traffic.dns.from === plan.traffic.dns.to) {
    out.push({ path: ['traffic', 'dns', 'to'], message: 'traffic.dns.to must differ from traffic.dns.from' });
  }
  return out;
}

export type FileSyncPlan = z.infer<typeof fileSyncPlanSchema>;

export const planSchemas = { 'file-sync': fileSyncPlanSchema, 'postgres-failover': postgresFailoverPlanSchema } as const;
export type PlanKind = keyof typeof planSchemas;
export type Plan = FileSyncPlan | PostgresFailoverPlan;

/** Cross-field checks per kind, run on the raw document too when the schema fails elsewhere. */
export const planReferenceProblems: Record<PlanKind, (raw: unknown) => { path: string[]; message: string }[]> = {
  'file-sync': referenceProblems,
  'postgres-failover': postgresReferenceProblems,
};

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
    hooks: plan.hooks,
    approval: plan.approval,
    gates: { cutover: gatePolicy(plan.gates.cutover) },
    traffic: plan.traffic,
    artifacts: plan.artifacts,
  };
}
