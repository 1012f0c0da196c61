// The postgres-failover move: a pg_basebackup standby in dc2, catch-up, synchronous commit, fence, promotion,
// DNS switch, and the reverse move as the way back.
import { createActivities } from '../../activities';
import { formatBytes } from '../cli/format';
import { postgresFailoverInput, postgresFailoverPlanSchema, postgresReferenceProblems, sandboxPostgresFailoverPlan } from '../plans/postgres-failover';
import { defineMove, preflightError } from './move';

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

  async review(plan, { file, startedBy }) {
    const input = postgresFailoverInput(plan, startedBy);
    const node = (s: typeof input.primary) => ({ ...s, ssh: input.hosts[s.host] });
    const preflight = await createActivities()
      .preflightPostgres({
        access: input.access,
        primary: node(input.primary),
        standby: { ...node(input.standby), overwrite: input.standby.overwrite },
        slotName: input.slotName,
        applicationName: input.applicationName,
        dns: input.traffic.dns,
      })
      .catch((err) => {
        throw preflightError(file, err);
      });
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
    return { preflight, facts, steps };
  },
});
