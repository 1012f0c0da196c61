// Redis activities for the Redis move, ready for the registry (createActivities spreads them in): preflight,
// the integrity comparison, and the building blocks (dump, write pause, replication, catch-up, promotion).
// Servers are named with their passwords by reference (activities/secrets), read on the worker at connect time.
// Long waits heartbeat real figures and stop on cancellation. Every step is idempotent: it looks first.
import { cancellationSignal, cancelled, heartbeat } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { SecretError } from '../secrets';
import { RedisClientError, resolveEndpoint, withRedis, type RedisServerRef } from './client';
import { compareRedis, type CompareOptions, type CompareResult } from './compare';
import { preflightRedis } from './preflight';
import { awaitCaughtUp, bgsaveAndWait, type BgsaveResult, type CatchUp, pauseWrites, promote, RedisStepError, replicaOf, unpauseWrites } from './replication';
import { RespConnectionError } from './resp';

export type { RedisServerRef } from './client';
export type { CompareResult, DiffKind, KeyDifference } from './compare';
export type { RedisPreflightInput, RedisPreflightResult, RedisServerFacts } from './preflight';
export type { BgsaveResult, CatchUp } from './replication';

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

export function createRedisActivities() {
  return {
    preflightRedis,

    /** Key-by-key comparison of both servers, heartbeating its figures; the workflow judges the result. */
    async compareRedisServers(input: { source: RedisServerRef; target: RedisServerRef; settings?: CompareSettings }): Promise<CompareResult> {
      return step('redis comparison', async () => {
        const [source, target] = await Promise.all([resolveEndpoint(input.source), resolveEndpoint(input.target)]);
        return compareRedis({ source, target, ...input.settings, onProgress: (p) => heartbeat(p), signal: cancellationSignal() });
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
