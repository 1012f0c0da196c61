// Stored histories (test/histories/*.json, recorded from the workflow tests with CUTOVER_RECORD_HISTORIES=1)
// replay on today's workflow code: a change that would break running migrations fails here, before it ships.
// Re-record only on purpose (a deliberate, versioned change), never to make this test pass.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { beforeAll, describe, expect, it } from 'vitest';
import { HISTORIES_DIR } from '../helpers/history';

const files = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json')).sort();
let bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  const quiet = () => undefined;
  bundle = await bundleWorkflowCode({
    workflowsPath: path.resolve(__dirname, '../../workflows/index.ts'),
    logger: { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: console.error, log: quiet },
  });
});

describe('stored histories replay on today’s code', () => {
  it('has histories of every move and outcome to replay', () => {
    expect(files).toEqual(expect.arrayContaining([
      'file-sync-completed.json',
      'file-sync-rolled-back.json',
      // Patch "file-sync-fence": verify while live, fence, the freeze's split verify; and a switch back that
      // failed, its dependent undos skipped.
      'file-sync-fenced-completed.json',
      'file-sync-switch-back-failed.json',
      'redis-move-completed.json',
      'redis-move-rolled-back.json',
      'postgres-failover-completed.json',
      'postgres-failover-reverse-move.json',
      // Recorded before the reverse move could undo itself (patch "reverse-move-undo"): replays on the old path.
      'postgres-failover-reverse-move-unpatched.json',
      'postgres-failover-fence-undone.json',
      'postgres-failover-reverse-fence-undone.json',
      // The lifecycle in workflows/lib: evidence refreshed by the gate (patch "gate-evidence-lifecycle"), the
      // recover gate, the way back as a phase (aborted), and last runs that started from carried state.
      'postgres-failover-gate-evidence.json',
      'postgres-failover-recover-retry.json',
      'postgres-failover-recover-way-back.json',
      'postgres-failover-recover-done-by-hand.json',
      'postgres-failover-way-back-aborted.json',
      'postgres-failover-continued-as-new.json',
      'postgres-failover-way-back-continued-as-new.json',
      // Signed decisions (patch "signed-decisions"): verified decisions with their fingerprints, a pause held in
      // the outage window and applied after it. Histories above replay unsigned, as they ran.
      'postgres-failover-signed-decisions.json',
      'postgres-failover-signed-outage-pause.json',
      // The way back always ready (patch "way-back-ready"): the old primary streams from the new one during the
      // soak (asynchronously; synchronously with its guard relaxing it), the switch back without rejoin or
      // catch-up, its fence undone, the whole reverse move after a soak without reverse replication, the way
      // back taken when the DNS switch failed, and last runs started from carried state on this path.
      'postgres-failover-completed-way-back-ready.json',
      'postgres-failover-sync-reverse-replication-relaxed.json',
      'postgres-failover-switched-back.json',
      'postgres-failover-switch-back-fence-undone.json',
      'postgres-failover-reverse-move-without-reverse-replication.json',
      'postgres-failover-switch-failed-way-back.json',
      'postgres-failover-continued-as-new-way-back-ready.json',
      'postgres-failover-way-back-continued-as-new-way-back-ready.json',
      // The HDFS dual write: clean cycles, freeze, switch, soak, complete; and a no-go at complete switched back.
      'hdfs-dual-write-completed.json',
      'hdfs-dual-write-switched-back.json',
      // The cutover gate's go check: a go held during a cycle and refused on what it found (a refresh failed), or
      // replaced by a no-go; a go signed before a difference refused once clean again, then one taken (a last run).
      'hdfs-dual-write-held-go-refused.json',
      'hdfs-dual-write-held-go-no-go.json',
      'hdfs-dual-write-go-refused.json',
      // An abort while a soak refresh ran (patch "hdfs-abort-ends-cycle"): the cycle ends there, nothing recorded
      // of it, the rollback runs; and the same recorded before the patch, where the cancelled refresh made two
      // NOT clean cycles before the rollback (it replays on that old path).
      'hdfs-dual-write-aborted-in-soak-cycle.json',
      'hdfs-dual-write-aborted-in-soak-cycle-unpatched.json',
    ]));
  });

  it.each(files)('%s', async (file) => {
    const json = JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8'));
    // Replayed under the workflow id it ran with: signed messages name it, and a signal handler verifies them again.
    const workflowId: string = json.events?.[0]?.workflowExecutionStartedEventAttributes?.workflowId || file.replace(/\.json$/, '');
    await Worker.runReplayHistory({ workflowBundle: bundle }, historyFromJSON(json), workflowId);
  });
});
