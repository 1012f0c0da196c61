// The dry run of a Redis move: the preflight, key counts and replication status are read for real; every change
// (write pause, BGSAVE, copy, archive, stop/start, replication, hand-over, hooks) is recorded and not done, with a
// result that lets the workflow go on as if it had been (a dump copied, a replica caught up, servers identical).
import { log } from '@temporalio/activity';
import type { createRedisActivities } from '.';
import type { CompareResult } from './compare';

type RedisActivities = ReturnType<typeof createRedisActivities>;

const KINDS = { type: 0, value: 0, ttl: 0, 'missing-on-target': 0, 'only-on-target': 0, uncomparable: 0 };

/** A comparison that was not run: equal, nothing compared. */
function notCompared(): CompareResult {
  return { equal: true, dbs: [], keysCompared: 0, targetKeysScanned: 0, keysDifferent: 0, byKind: { ...KINDS }, differences: [], rechecked: 0, clearedByRecheck: 0, bigKeys: 0, method: 'values', elapsedMs: 0, keysPerSec: 0 };
}

export function createRedisDryRun(real: RedisActivities): RedisActivities {
  const now = () => new Date().toISOString();
  const notDone = (what: string) => log.info(`dry run: ${what} not done`);
  return {
    preflightRedis: real.preflightRedis,
    preflightRedisMove: real.preflightRedisMove,
    redisKeyspace: real.redisKeyspace,
    async compareRedisServers() {
      notDone('comparison');
      return notCompared();
    },
    async compareRedisKeys() {
      return notCompared();
    },
    redisRunId: real.redisRunId,
    async compareRedisBesideLoad() {
      notDone('comparison');
      return { ...notCompared(), phasesMs: { source: 0, waitingForTarget: 0, target: 0, recheck: 0 }, targetRunId: 'dry-run' };
    },
    async redisBgsave() {
      notDone('BGSAVE');
      return { lastSaveTime: Math.floor(Date.now() / 1000), durationMs: 0, waitedForOther: false };
    },
    async redisPauseWrites(i) {
      notDone(`CLIENT PAUSE on ${i.server.label}`);
    },
    async redisUnpauseWrites() {},
    async redisHoldWrites(i) {
      return { quiet: true, changesSinceSave: 0, lastSaveTime: i.lastSaveTime };
    },
    async redisReplicaOf() {
      return { changed: true };
    },
    async redisFollow() {
      return { changed: true };
    },
    async redisAwaitCaughtUp() {
      return { masterOffset: 0, replicaOffset: 0, linkUp: true, caughtUp: true, waitedMs: 0 };
    },
    async redisCatchUpWindow() {
      return { masterOffset: 0, replicaOffset: 0, linkUp: true, caughtUp: true, lagBytes: 0, checkedAt: now() };
    },
    async redisHandOver() {
      return { alreadyPromoted: false, pausedAt: now(), promotedAt: now(), pauseToWritableMs: 0, catchUpMs: 0, masterOffset: 0, replicaOffset: 0, fromKeyspace: [], toKeyspace: [] };
    },
    async redisPromote() {
      return { changed: true };
    },
    async redisDetach(i) {
      return `dry run: ${i.server.label} not detached`;
    },
    async copyRedisDump() {
      notDone('dump copy');
      return { bytes: 0, sha256: '(dry run)', copyMs: 0, sourceShaMs: 0, targetShaMs: 0, attempt: 1 };
    },
    async archiveRedisDump(i) {
      return { uri: `dry run: gs://${i.bucket}/${i.object} not written`, bytes: 0 };
    },
    async placeRedisDump() {
      return { keptPrevious: false, alreadyPlaced: false };
    },
    async restoreRedisTarget(i) {
      return `dry run: ${i.server.label} not restored`;
    },
    async removeRedisDumpCopies() {
      return { removed: [] };
    },
    async stopRedisServer() {
      return { wasRunning: true, stopMs: 0 };
    },
    async startRedisServer() {
      return { alreadyRunning: false, loadMs: 0, keyspace: [], keysLoaded: null, runId: 'dry-run' };
    },
    async runJobsHook(i) {
      return { output: `dry run: ${i.label} hook not run`, ms: 0, tries: 0 };
    },
  };
}
