// The dry run of an hdfs-dual-write move: the preflight and the permission reads are real; refreshes, permission
// changes, shadow jobs, comparisons, alerts and the parity check are recorded and not done, with results that let
// the workflow go on as if they had been (nothing written, nothing different, nothing sent).
import { log } from '@temporalio/activity';
import type { createHdfsActivities } from '.';

type HdfsActivities = ReturnType<typeof createHdfsActivities>;

const notCompared = (a: string, b: string) => ({
  a, b, equal: true, files: 0, bytes: 0, onlyInA: [], onlyInB: [], sizeDiffers: [], differing: [], sameLinesOtherOrder: [], byChecksum: 0, bySha256: 0, ms: 0,
});

export function createHdfsDryRun(real: HdfsActivities): HdfsActivities {
  const notDone = (what: string) => log.info(`dry run: ${what} not done`);
  return {
    hdfsPreflight: real.hdfsPreflight,
    hdfsWritableByOthers: real.hdfsWritableByOthers,
    async hdfsSetPermissions(i) {
      notDone(`${i.entries.length} permission change(s) on ${i.cluster.name}`);
      return { set: 0, gone: 0 };
    },
    async hdfsParity(i) {
      notDone('parity check');
      return i.datasets.map((d) => ({ name: d.name, equal: true, files: 0, bytes: 0, detail: 'dry run: not compared' }));
    },
    async hdfsRefresh(i) {
      notDone(`refresh to ${i.targets.map((t) => `${t.cluster.name}:${t.path}`).join(' and ')}`);
      const source = 'local' in i.source ? i.source.local : `${i.source.cluster.name}:${i.source.path}`;
      return {
        source, files: 0, bytes: 0, copyMs: 0,
        targets: i.targets.map((t) => ({ cluster: t.cluster.name, path: t.path, filesWritten: 0, bytesWritten: 0, filesSkipped: 0, staleTempsRemoved: 0 })),
        verify: { method: 'none', files: 0, bytes: 0, mismatches: [], ms: 0 },
      };
    },
    async hdfsCompareOutputs(i) {
      notDone('output comparison');
      return notCompared(i.a.path, i.b.path);
    },
    async hdfsRunJob(i) {
      notDone(`job ${i.job.name} on ${i.cluster.name}`);
      return { job: i.job.name, cluster: i.cluster.name, ok: true, exitCode: 0, ms: 0, outputPath: i.outputPath };
    },
    async hdfsCompareJobOutputs(i) {
      notDone(`comparison of ${i.job.name}'s outputs`);
      return { job: i.job.name, equal: true, differences: notCompared(i.record.path, i.shadow.path), noiseSeen: [] };
    },
    async hdfsAlert(i) {
      notDone(`alert "${i.title}"`);
      return { sent: false, error: 'dry run: not sent' };
    },
    async hdfsRemovePath(i) {
      notDone(`removal of ${i.cluster.name}:${i.path}`);
      return { cluster: i.cluster.name, path: i.path, removed: false };
    },
  };
}
