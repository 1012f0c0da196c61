// The postgres-failover move: a pg_basebackup standby in dc2, catch-up, synchronous commit, fence, promotion,
// DNS switch, and the reverse move as the way back.
import { postgresFailoverInput, postgresFailoverPlanSchema, postgresReferenceProblems, sandboxPostgresFailoverPlan } from '../plans/postgres-failover';
import { defineMove } from './move';

export const postgresFailoverMove = defineMove({
  kind: 'postgres-failover',
  summary: 'a PostgreSQL 15 primary: hot standby, catch-up, gate, synchronous commit, fence, promotion, DNS switch, reverse move',
  system: 'postgres',
  workflowType: 'postgresFailover',
  planSchema: postgresFailoverPlanSchema,
  referenceProblems: postgresReferenceProblems,
  toInput: postgresFailoverInput,
  sampleName: 'pg-demo',
  // The sandbox's own primary (dc1, 127.0.1.1:5432) to dc2/pg, switching pg.sandbox.internal.
  samplePlan: (sb, name) => sandboxPostgresFailoverPlan(sb, { name, dnsName: `pg.${sb.dns.zone}`, soak: '30s' }),
  bench: async () => (await import('../bench/postgres-failover')).postgresFailoverBenchmark,
  demo: { title: 'PostgreSQL (postgres-failover), the sandbox primary dc1 → dc2', run: async () => (await import('../demo/postgres-failover')).postgresFailoverDemo },
});
