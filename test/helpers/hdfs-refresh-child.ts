// A refresh in a process of its own, for a test to kill -9 mid-way (a worker that dies, not one that is cancelled):
// `tsx hdfs-refresh-child.ts <local dir> <targets JSON>`; prints `done <n>` as files complete on every side.
import { localDataset } from '../../activities/hdfs/dataset';
import { refreshDataset, type RefreshTarget } from '../../activities/hdfs/refresh';

const [dir, targets] = process.argv.slice(2);
let last = -1;
refreshDataset(localDataset(dir), JSON.parse(targets) as RefreshTarget[], {
  onProgress: (p) => {
    if (p.filesDone !== last) {
      last = p.filesDone;
      process.stdout.write(`done ${p.filesDone}\n`);
    }
  },
}).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
