// The dry run (`cutover plan`): the same `Activities` type as the real ones, registered on the dry-run task
// queue. Reads are real (preflight, DNS lookups, settings), changes are recorded and not done; a new activity
// that has no dry-run counterpart does not compile.
import type { Activities } from '.';
import { createFileDryRun } from './files/dry-run';
import { createHdfsDryRun } from './hdfs/dry-run';
import { createPostgresDryRun } from './postgres/dry-run';
import { createRedisDryRun } from './redis/dry-run';

export function createDryRunActivities(real: Activities): Activities {
  return {
    ...createFileDryRun(real),
    ...createPostgresDryRun(real),
    ...createRedisDryRun(real),
    ...createHdfsDryRun(real),
    lookupDns: real.lookupDns,
    async switchDns(input) {
      return { previous: [input.from], changed: false, confirmedMs: 0 };
    },
    async storeReport(input) {
      return { uri: `dry run: gs://${input.bucket}/${input.object} not written`, bytes: 0 };
    },
  };
}
