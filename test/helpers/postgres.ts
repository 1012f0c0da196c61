// Per-test PostgreSQL clusters: a fresh primary of its own in dc1, its standby target in dc2, a DNS name, plans
// (see scripts/workload/pg-cluster.ts, shared with the benchmark).
export { createPgCluster as pgFixture, type PgCluster as PgFixture } from '../../scripts/workload/pg-cluster';
