// The hdfs-dual-write move: datasets refreshed to an old and a new HDFS cluster on a schedule, the same jobs run
// on both and compared (a noise baseline, alerts on differences), and after a clean period the old cluster's paths
// frozen, a final parity check, the `hdfs` DNS name switched, a soak with refreshes to both, the complete gate.
import { hdfsDualWriteInput, hdfsDualWritePlanSchema, hdfsReferenceProblems, sandboxHdfsDualWritePlan } from '../plans/hdfs-dual-write';
import { defineMove } from './move';

export const hdfsDualWriteMove = defineMove({
  kind: 'hdfs-dual-write',
  summary: 'HDFS datasets written to the old and new cluster, shadow jobs compared on both, a clean period, freeze, DNS switch, soak',
  system: 'hdfs',
  workflowType: 'hdfsDualWrite',
  planSchema: hdfsDualWritePlanSchema,
  referenceProblems: hdfsReferenceProblems,
  toInput: hdfsDualWriteInput,
  sampleName: 'hdfs-demo',
  // The sandbox's clusters (dc1 → dc2) switching hdfs.sandbox.internal; one dataset from a local tree, one WordCount.
  samplePlan: (sb, name) =>
    sandboxHdfsDualWritePlan(sb, {
      name,
      dnsName: `hdfs.${sb.dns.zone}`,
      datasets: [{ name: 'events', local: `${sb.stateDir}/demo/hdfs-events`, path: `/demo/${name}/events` }],
      wordCount: ['events'],
      outputRoot: `/demo/${name}/shadow`,
      cleanCycles: 1,
      soak: '0s',
    }),
  bench: async () => (await import('../bench/hdfs-dual-write')).hdfsDualWriteBenchmark,
  demo: { title: 'HDFS (hdfs-dual-write), the sandbox clusters dc1 → dc2: one refresh, one WordCount on both, cutover', run: async () => (await import('../demo/hdfs-dual-write')).hdfsDualWriteDemo },
});
