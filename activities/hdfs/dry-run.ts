// The dry run of an hdfs-dual-write move: the preflight and the permission reads are real; refreshes, permission
// changes, comparisons and the parity check are recorded and not done, with results that let the workflow go on as
// if they had been (nothing written, nothing different).
import { log } from '@temporalio/activity';
import type { createHdfsActivities } from '.';

type HdfsActivities = ReturnType<typeof createHdfsActivities>;

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
      return { a: i.a.path, b: i.b.path, equal: true, files: 0, bytes: 0, onlyInA: [], onlyInB: [], sizeDiffers: [], differing: [], sameLinesOtherOrder: [], byChecksum: 0, bySha256: 0, ms: 0 };
    },
  };
}
