// The dry run of a PostgreSQL move: the preflight and the settings it reads are real; every change (slot, base
// backup, standby start, synchronous commit, fence, promotion, cleanup) is recorded and not done, with a result
// that lets the workflow go on as if it had been (a standby caught up and in sync, a clean fence, a promotion).
import { heartbeat, log, sleep } from '@temporalio/activity';
import type { createPostgresActivities } from '.';
import type { ReplicationSample } from './replication';

type PostgresActivities = ReturnType<typeof createPostgresActivities>;

const NOTHING = '0/0';

export function createPostgresDryRun(real: PostgresActivities): PostgresActivities {
  const now = () => new Date().toISOString();
  const inSync = (): ReplicationSample => ({
    checkedAt: now(),
    primaryLsn: NOTHING,
    state: 'streaming',
    syncState: 'sync',
    sentLsn: NOTHING,
    flushLsn: NOTHING,
    replayLsn: NOTHING,
    lagBytes: 0,
    replayLagMs: 0,
    slot: { active: true, restartLsn: NOTHING, walStatus: 'reserved' },
  });
  const notDone = (what: string) => log.info(`dry run: ${what} not done`);
  return {
    preflightPostgres: real.preflightPostgres,
    readAutoConf: real.readAutoConf,
    async createSlot(i) {
      notDone(`slot ${i.slot}`);
      return { created: true, restartLsn: NOTHING };
    },
    async dropSlot() {
      return { dropped: false };
    },
    async dropSlotOffline() {
      return { dropped: false, how: 'dry run' };
    },
    async replicationStatus() {
      return inSync();
    },
    async awaitStreaming() {
      return inSync();
    },
    async watchCatchUp() {
      return { caughtUp: true, sample: inSync(), underSince: now(), samples: 1 };
    },
    async guardSynchronousStandby() {
      // Nothing to guard: stands by, heartbeating, until the run cancels it (its waits end at once in a dry run).
      for (;;) {
        heartbeat({ dryRun: true });
        await sleep(1000);
      }
    },
    async confirmSync() {
      return { ...inSync(), waitedMs: 0 };
    },
    async startPostgres() {
      return { alreadyRunning: false, startMs: 0 };
    },
    async stopPostgres() {
      return { wasRunning: false };
    },
    async serverState() {
      return { checkedAt: now(), reachable: true, inRecovery: false, acceptsWrites: true, lsn: NOTHING };
    },
    async applySettings(i) {
      notDone(`settings ${Object.keys(i.settings).join(', ')}`);
      return { applied: Object.fromEntries(Object.entries(i.settings).map(([k, v]) => [k, v ?? ''])) };
    },
    async baseBackup() {
      notDone('pg_basebackup');
      return { bytes: 0, durationMs: 0, rateBytesPerSec: 0, attempt: 1, cleanedPartial: false, alreadyDone: false };
    },
    async removeStandbyDataDir(i) {
      return { removed: `dry run: ${i.standby.dataDir} not removed` };
    },
    async rejoinAsStandby() {
      return { rewound: false, reason: 'dry run: not rejoined', alreadyStandby: false };
    },
    async removePassfile(i) {
      return { removed: `dry run: ${i.server.passfile} not removed` };
    },
    async fencePrimary() {
      notDone('fence');
      const at = now();
      return {
        readOnlyAt: at,
        terminatedWriters: 0,
        stoppedAt: at,
        alreadyStopped: false,
        finalLsn: NOTHING,
        standbyReplayLsn: NOTHING,
        timeline: 1,
        timings: { readOnlyMs: 0, flushWaitMs: 0, stopMs: 0, verifyMs: 0 },
      };
    },
    async restartFencedPrimary() {
      return { alreadyRunning: true, startMs: 0 };
    },
    async promoteStandby(i) {
      notDone('promotion');
      const at = now();
      return { alreadyPromoted: false, method: i.method, promoteMs: 0, writableAt: at, inRecoveryAt: at, timeline: 2, lsn: NOTHING };
    },
  };
}
