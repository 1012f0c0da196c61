// Redis activities of the redis-move (createActivities spreads them in), by stage: preflight of the servers and
// hosts (move-preflight.ts), the write pause, BGSAVE and keyspace, the dump's way over SSH with checksums, its
// archive and placement (dump.ts), stopping and starting the target with the plan's commands (service.ts), the
// job system's hooks (jobs.ts), replication, catch-up windows and the hand-over (replication.ts), and the
// key-by-key comparison (compare.ts). Servers are named with their passwords by reference (activities/secrets),
// read on the worker at connect time. Long waits heartbeat real figures and stop on cancellation. Every step is
// idempotent: it looks first.
import { activityInfo, cancellationSignal, cancelled, getClient, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { redisReadAheadSignal } from '../../workflows/shared/messages';
import type { ActivityDeps } from '../deps';
import { SecretError } from '../secrets';
import { RedisClientError, resolveEndpoint, withRedis, type RedisServerRef } from './client';
import { compareKeys, compareRedis, keyBytes, type CompareOptions, type CompareResult, type KeyDifference } from './compare';
import { createDumpActivities } from './dump';
import { type DbKeyspace, parseKeyspace } from './info';
import { runJobsHook, type JobsHookInput } from './jobs';
import { preflightRedisMove, type RedisMovePreflightInput, type RedisMovePreflightResult } from './move-preflight';
import { preflightRedis } from './preflight';
import {
  awaitCaughtUp, bgsaveAndWait, type BgsaveResult, type CatchUp, catchUpWindow, type CatchUpWindow, detach, handOver, type HandOver, holdWrites, pauseWrites,
  promote, RedisStepError, replicaOf, unpauseWrites,
} from './replication';
import { RespConnectionError } from './resp';
import { compareSnapshot, type ReadAhead, type SnapshotCompareResult } from './compare-snapshot';
import { awaitNewRun, serverState, startServer, type StartResult, stopServer, type ServiceInput } from './service';

export type { RedisServerRef } from './client';
export type { CompareResult, DiffKind, KeyDifference } from './compare';
export type { CopyDumpInput, CopyDumpResult, HostFile } from './dump';
export type { DbKeyspace } from './info';
export type { JobsHookInput } from './jobs';
export type { RedisMovePreflightInput, RedisMovePreflightResult } from './move-preflight';
export type { RedisPreflightInput, RedisPreflightResult, RedisServerFacts } from './preflight';
export type { BgsaveResult, CatchUp, CatchUpWindow, HandOver } from './replication';
export type { StartResult } from './service';

/** Comparison settings a plan may set (the rest are cutover's). */
export type CompareSettings = Pick<CompareOptions, 'dbs' | 'connections' | 'batch' | 'ttlToleranceMs' | 'maxDifferences'>;

/** Low-level errors → failures with cutover's types: unreachable is retried, a refused login or a failed step is not. */
function toRedisFailure(err: unknown, context: string): Error {
  if (err instanceof ApplicationFailure) return err;
  const message = `${context}: ${(err as Error).message}`;
  if (err instanceof SecretError) return ApplicationFailure.nonRetryable(message, ErrorType.HostUnreachable);
  if (err instanceof RedisClientError) {
    return err.kind === 'unreachable' ? ApplicationFailure.retryable(message, ErrorType.HostUnreachable) : ApplicationFailure.nonRetryable(message, ErrorType.HostUnreachable);
  }
  if (err instanceof RespConnectionError) return ApplicationFailure.retryable(message, ErrorType.HostUnreachable);
  if (err instanceof RedisStepError) return ApplicationFailure.nonRetryable(message, ErrorType.CommandFailed);
  if (/^(LOADING|MASTERDOWN|BUSY)\b/.test((err as Error).message ?? '')) return ApplicationFailure.retryable(message, ErrorType.Transient);
  return err instanceof Error ? err : new Error(String(err));
}

async function step<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (cancellationSignal().aborted) await cancelled();
    throw toRedisFailure(err, context);
  }
}

export function createRedisActivities(deps: Pick<ActivityDeps, 'withSsh' | 'storage'>) {
  return {
    preflightRedis,
    ...createDumpActivities(deps),

    /** Both servers and the hosts around them, read-only, every problem at once (PreflightFailed). */
    async preflightRedisMove(input: RedisMovePreflightInput): Promise<RedisMovePreflightResult> {
      return preflightRedisMove(deps, input);
    },

    /** Keys per db (INFO keyspace). */
    async redisKeyspace(input: { server: RedisServerRef }): Promise<{ dbs: DbKeyspace[]; keys: number }> {
      return step(`keyspace of ${input.server.label}`, () =>
        withRedis(input.server, async (r) => {
          const dbs = parseKeyspace(await r.info('keyspace'));
          return { dbs, keys: dbs.reduce((n, d) => n + d.keys, 0) };
        }));
    },

    /** Only the keys a live comparison found different, compared again (writes paused, replica caught up). */
    async compareRedisKeys(input: { source: RedisServerRef; target: RedisServerRef; keys: Array<Pick<KeyDifference, 'db' | 'key' | 'keyBase64'>>; settings?: CompareSettings }): Promise<CompareResult> {
      return step('redis comparison of listed keys', async () => {
        const [source, target] = await Promise.all([resolveEndpoint(input.source), resolveEndpoint(input.target)]);
        const keys = input.keys.map((k) => ({ db: k.db, key: keyBytes(k) }));
        return compareKeys({ source, target, keys, ttlToleranceMs: input.settings?.ttlToleranceMs, maxDifferences: input.settings?.maxDifferences, onProgress: (p) => heartbeat(p), signal: cancellationSignal() });
      });
    },

    /** Writes paused again (deadline moved) and whether any slipped through since the dump. */
    async redisHoldWrites(input: { server: RedisServerRef; ms: number; lastSaveTime: number }): Promise<{ quiet: boolean; changesSinceSave: number; lastSaveTime: number }> {
      return step(`holding writes on ${input.server.label}`, () => withRedis(input.server, (r) => holdWrites(r, input)));
    },

    /** One window of catch-up samples: done when the link is up and the lag under the threshold. */
    async redisCatchUpWindow(input: { master: RedisServerRef; replica: RedisServerRef; maxLagBytes: number; windowMs: number }): Promise<CatchUpWindow> {
      return step(`catch-up of ${input.replica.label}`, () =>
        withRedis(input.master, (m) => withRedis(input.replica, (r) =>
          catchUpWindow(m, r, { ...input, onProgress: (d) => heartbeat(d), signal: cancellationSignal() }))));
    },

    /** Pause writes on `from`, replica caught up, REPLICAOF NO ONE on `to`: the switch of a live replica. */
    async redisHandOver(input: { from: RedisServerRef; to: RedisServerRef; pauseMs: number; timeoutMs: number }): Promise<HandOver> {
      return step(`handing over from ${input.from.label} to ${input.to.label}`, () =>
        withRedis(input.from, (f) => withRedis(input.to, (t) => handOver(f, t, { ...input, signal: cancellationSignal(), onProgress: (d) => heartbeat(d) }))));
    },

    /**
     * `replica` follows `master` (REPLICAOF, masterauth from the master's reference), then its own write pause
     * is lifted: as a replica it refuses writes (READONLY), so clients left on it cannot write into the old copy.
     */
    async redisFollow(input: { replica: RedisServerRef; master: RedisServerRef }): Promise<{ changed: boolean }> {
      return step(`making ${input.replica.label} follow ${input.master.label}`, async () => {
        const master = await resolveEndpoint(input.master);
        return withRedis(input.replica, async (r) => {
          const done = await replicaOf(r, { host: master.host, port: master.port, password: master.password, username: master.username });
          await unpauseWrites(r);
          return done;
        });
      });
    },

    /** Undo of replication into the target: a master again, emptied if it was empty before the move. */
    async redisDetach(input: { server: RedisServerRef; flush: boolean }): Promise<string> {
      return step(`detaching ${input.server.label}`, async () => {
        const r = await withRedis(input.server, (c) => detach(c, input));
        return `${input.server.label} ${r.wasReplica ? 'no longer replicates' : 'was not replicating'}${r.flushed ? ', emptied again' : ', keeps its keys'}`;
      });
    },

    async stopRedisServer(input: ServiceInput): Promise<{ wasRunning: boolean; stopMs: number }> {
      return step(`stopping ${input.server.label}`, () => stopServer(deps, input, cancellationSignal()));
    },

    /** Start it and wait until its dump is loaded and it serves. */
    async startRedisServer(input: ServiceInput): Promise<StartResult> {
      return step(`starting ${input.server.label}`, () => startServer(deps, input, cancellationSignal()));
    },

    /** A hook of the job system (pause, confirm, resume) on its host, within its deadline. */
    async runJobsHook(input: JobsHookInput): Promise<{ output: string; ms: number; tries: number }> {
      return runJobsHook(deps, input);
    },

    /** Key-by-key comparison of both servers, heartbeating its figures; the workflow judges the result. */
    async compareRedisServers(input: { source: RedisServerRef; target: RedisServerRef; settings?: CompareSettings }): Promise<CompareResult> {
      return step('redis comparison', async () => {
        const [source, target] = await Promise.all([resolveEndpoint(input.source), resolveEndpoint(input.target)]);
        return compareRedis({ source, target, ...input.settings, onProgress: (p) => heartbeat(p), signal: cancellationSignal() });
      });
    },

    /** INFO run_id of the server that serves now; '' when it is down (dump mode: the restart is told by a new one). */
    async redisRunId(input: { server: RedisServerRef }): Promise<{ runId: string }> {
      return step(`run id of ${input.server.label}`, async () => {
        const s = await serverState(input.server);
        return { runId: s.state === 'up' ? s.runId : '' };
      });
    },

    /**
     * Dump mode's comparison beside the steps the write pause waits on anyway (compare-snapshot.ts). With
     * `readAhead` it starts before the pause: it reads the live source, tells its workflow so (a signal: the
     * pause waits for it), follows the keys the source changes until the target is ready and reads them again
     * once the source is frozen; without, it starts once the source's writes are paused and reads the frozen
     * source while BGSAVE, the copy and the target's restart run. Either way it waits until the target serves
     * under another run id than `targetRunId` (restarted, its dump loaded), then reads the target and compares.
     * The result names the run it compared (`targetRunId`): the workflow checks that it is the one its start step
     * started. Cancelled by the workflow when the load fails; a retry starts over (it only reads).
     */
    async compareRedisBesideLoad(input: { source: RedisServerRef; target: RedisServerRef; targetRunId: string; readAhead?: boolean; settings?: CompareSettings }): Promise<SnapshotCompareResult & { targetRunId: string }> {
      return step('redis comparison beside the load', async () => {
        const [source, target] = await Promise.all([resolveEndpoint(input.source), resolveEndpoint(input.target)]);
        const signal = cancellationSignal();
        let compared = '';
        const targetReady = async (stop: AbortSignal) => {
          const started = Date.now();
          compared = await awaitNewRun(target, input.targetRunId, stop, (state) => heartbeat({ phase: 'waiting-for-target', target: state, waitedMs: Date.now() - started }));
        };
        // The workflow waits for this before it pauses the jobs and writes.
        const onRead = async (r: ReadAhead) => {
          const { workflowExecution: run, attempt } = activityInfo();
          if (!run) throw new Error('the comparison read ahead runs only as an activity of a workflow');
          await getClient().workflow.getHandle(run.workflowId, run.runId).signal(redisReadAheadSignal, { ...r, attempt });
        };
        const { connections, batch, ttlToleranceMs, maxDifferences } = input.settings ?? {};
        const r = await compareSnapshot({
          source, target, targetReady, connections, batch, ttlToleranceMs, maxDifferences, onProgress: (p) => heartbeat(p), signal,
          ...(input.readAhead ? { readAhead: { onRead } } : {}),
        });
        // Restarted while it was read: what was compared is not what serves. A retry compares the one that does.
        const now = await serverState(input.target);
        if (now.state !== 'up' || now.runId !== compared) throw new Error(`${input.target.label} restarted while it was compared (run ${compared}, now ${now.state === 'up' ? now.runId : now.state})`);
        return { ...r, targetRunId: compared };
      });
    },

    /** A fresh dump that is known to have succeeded; its location is the server's dir/dbfilename (preflight). */
    async redisBgsave(input: { server: RedisServerRef; timeoutMs?: number }): Promise<BgsaveResult> {
      return step(`BGSAVE on ${input.server.label}`, () =>
        withRedis(input.server, (r) => bgsaveAndWait(r, { timeoutMs: input.timeoutMs, onProgress: (d) => heartbeat(d), signal: cancellationSignal() })));
    },

    /** CLIENT PAUSE WRITE with a deadline (a dead worker leaves the server writable again). */
    async redisPauseWrites(input: { server: RedisServerRef; ms: number }): Promise<void> {
      return step(`pausing writes on ${input.server.label}`, () => withRedis(input.server, (r) => pauseWrites(r, { ms: input.ms })));
    },

    async redisUnpauseWrites(input: { server: RedisServerRef }): Promise<void> {
      return step(`unpausing writes on ${input.server.label}`, () => withRedis(input.server, (r) => unpauseWrites(r)));
    },

    /** REPLICAOF the master, with masterauth from the master's password reference; already so → unchanged. */
    async redisReplicaOf(input: { replica: RedisServerRef; master: RedisServerRef }): Promise<{ changed: boolean }> {
      return step(`making ${input.replica.label} a replica of ${input.master.label}`, async () => {
        const master = await resolveEndpoint(input.master);
        return withRedis(input.replica, (r) => replicaOf(r, { host: master.host, port: master.port, password: master.password, username: master.username }));
      });
    },

    /** Until the replica's offset is at least the master's (equality never comes: the master PINGs). */
    async redisAwaitCaughtUp(input: { master: RedisServerRef; replica: RedisServerRef; timeoutMs?: number }): Promise<CatchUp & { waitedMs: number }> {
      return step(`waiting for ${input.replica.label} to catch up`, () =>
        withRedis(input.master, (m) => withRedis(input.replica, (r) =>
          awaitCaughtUp(m, r, { timeoutMs: input.timeoutMs, onProgress: (d) => heartbeat(d), signal: cancellationSignal() }))));
    },

    /** REPLICAOF NO ONE; already a master → unchanged. */
    async redisPromote(input: { server: RedisServerRef }): Promise<{ changed: boolean }> {
      return step(`promoting ${input.server.label}`, () => withRedis(input.server, (r) => promote(r)));
    },
  };
}
