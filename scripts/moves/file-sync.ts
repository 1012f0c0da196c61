// The file-sync move: a file tree dc1 → dc2 with rsync catch-up passes, a final sync in the freeze, DNS switch.
import path from 'node:path';
import { fileSyncInput, fileSyncPlanSchema, referenceProblems, sandboxFileSyncPlan } from '../plans/file-sync';
import { defineMove } from './move';

export const fileSyncMove = defineMove({
  kind: 'file-sync',
  summary: 'a file tree: rsync catch-up passes while live, gate, freeze, final sync, verify, DNS switch',
  system: 'files',
  workflowType: 'fileSync',
  planSchema: fileSyncPlanSchema,
  referenceProblems,
  toInput: fileSyncInput,
  sampleName: 'assets-demo',
  // Writers of the demo tree honour the flag (scripts/workload/file-writer.ts); the demo's own plan also waits for their ack.
  samplePlan: (sb, name) =>
    sandboxFileSyncPlan(sb, {
      name,
      sourceDir: sb.files.sourceDir,
      targetDir: sb.files.targetDir,
      dnsName: `assets.${sb.dns.zone}`,
      freezeFlag: path.join(sb.stateDir, 'dc1', 'assets.frozen'),
      awaitWriter: false,
    }),
  bench: async () => (await import('../bench/file-sync')).fileSyncBenchmark,
  demo: { title: 'files (file-sync), the demo asset tree dc1 → dc2', run: async () => (await import('../demo/file-sync')).fileSyncDemo },
});
