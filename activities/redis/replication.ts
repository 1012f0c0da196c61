// Building blocks of a Redis move, each a small idempotent function over a client the caller owns (ioredis):
// a snapshot that is known to have succeeded, a write pause, replication from the source, its catch-up check
// and the promotion. Activities wrap them (reading passwords from their references, heartbeating).
import type Redis from 'ioredis';
import { type DbKeyspace, parseKeyspace, parsePersistence, parseReplication, type Persistence, type Replication } from './info';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface WaitOptions {
  timeoutMs?: number;
  pollMs?: number;
  onProgress?: (details: Record<string, unknown>) => void;
  signal?: AbortSignal;
}

export class RedisStepError extends Error {}

async function persistence(r: Redis): Promise<Persistence> {
  return parsePersistence(await r.info('persistence'));
}

export async function replication(r: Redis): Promise<Replication> {
  return parseReplication(await r.info('replication'));
}

/** The server's clock in whole seconds (TIME), the unit of rdb_last_save_time. */
async function serverSecond(r: Redis): Promise<number> {
  const [s] = (await r.call('TIME')) as [string, string];
  return Number(s);
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('cancelled');
}

export interface BgsaveResult {
  /** rdb_last_save_time of the dump this call waited for (server clock, seconds). */
  lastSaveTime: number;
  durationMs: number;
  /** A save of someone else's was running first: waited for it, then started ours. */
  waitedForOther: boolean;
}

/**
 * BGSAVE and wait until *that* save finished successfully: not in progress, status ok, and a last save time
 * later than before it started. A save already running (started before a write pause, say) is waited for and
 * not trusted: ours starts after it. rdb_last_save_time counts seconds, so ours starts in a later second
 * than the previous save, or its end could not be told apart.
 */
export async function bgsaveAndWait(r: Redis, o: WaitOptions = {}): Promise<BgsaveResult> {
  const started = Date.now();
  const timeoutMs = o.timeoutMs ?? 600_000;
  // Inside the write pause: half a poll interval is added to it on average; INFO persistence is cheap.
  const pollMs = o.pollMs ?? 25;
  let waitedForOther = false;
  let before = await persistence(r);
  while (before.bgsaveInProgress) {
    waitedForOther = true;
    checkAborted(o.signal);
    if (Date.now() - started > timeoutMs) throw new RedisStepError(`a BGSAVE already running did not finish in ${timeoutMs} ms`);
    o.onProgress?.({ waitingFor: 'a save already in progress' });
    await sleep(pollMs);
    before = await persistence(r);
  }
  while ((await serverSecond(r)) <= before.lastSaveTime) await sleep(50);
  try {
    await r.bgsave();
  } catch (err) {
    // Started by someone else between our look and our command: wait for it, then ours.
    if (/already in progress/i.test((err as Error).message)) return bgsaveAndWait(r, { ...o, timeoutMs: timeoutMs - (Date.now() - started) });
    throw new RedisStepError(`BGSAVE refused: ${(err as Error).message}`);
  }
  for (;;) {
    checkAborted(o.signal);
    const p = await persistence(r);
    if (!p.bgsaveInProgress && p.lastSaveTime > before.lastSaveTime) {
      if (!p.lastBgsaveOk) throw new RedisStepError('BGSAVE failed (rdb_last_bgsave_status:err): see the server log (disk full? permissions of dir?)');
      return { lastSaveTime: p.lastSaveTime, durationMs: Date.now() - started, waitedForOther };
    }
    if (!p.bgsaveInProgress && !p.lastBgsaveOk) throw new RedisStepError('BGSAVE failed (rdb_last_bgsave_status:err): see the server log');
    if (Date.now() - started > timeoutMs) throw new RedisStepError(`BGSAVE did not finish in ${timeoutMs} ms`);
    o.onProgress?.({ bgsaveInProgress: p.bgsaveInProgress, elapsedMs: Date.now() - started });
    await sleep(pollMs);
  }
}

/**
 * Writes are refused (clients block) for `ms` or until unpaused; reads and replication go on. Repeating it
 * only moves the deadline. A deadline, not forever: a worker that dies leaves the source writable again.
 */
export async function pauseWrites(r: Redis, o: { ms: number }): Promise<void> {
  await r.call('CLIENT', 'PAUSE', String(o.ms), 'WRITE');
}

/** Lifts a write pause; a no-op when none is on. */
export async function unpauseWrites(r: Redis): Promise<void> {
  await r.call('CLIENT', 'UNPAUSE');
}

export interface ReplicaOfResult {
  /** False when it already replicated from that master (nothing was done, no new full sync). */
  changed: boolean;
}

/**
 * Makes `replica` replicate from master host:port, with masterauth (and masteruser for an ACL user) set first
 * so the link can log in. Already a replica of that master → nothing to do.
 */
export async function replicaOf(replica: Redis, master: { host: string; port: number; password?: string; username?: string }): Promise<ReplicaOfResult> {
  const now = await replication(replica);
  if (now.role === 'slave' && now.masterHost === master.host && now.masterPort === master.port) return { changed: false };
  if (master.password !== undefined) await replica.call('CONFIG', 'SET', 'masterauth', master.password);
  if (master.username !== undefined) await replica.call('CONFIG', 'SET', 'masteruser', master.username);
  await replica.call('REPLICAOF', master.host, String(master.port));
  return { changed: true };
}

export interface CatchUp {
  masterOffset: number;
  replicaOffset: number;
  linkUp: boolean;
  /** The replica has processed at least everything the master had sent when looked at. */
  caughtUp: boolean;
}

/**
 * One look at both offsets. The master's periodic PING to its replicas advances its offset even while writes
 * are paused, so "caught up" is replica offset ≥ the master's offset read *before* it, never equality.
 */
export async function catchUpState(master: Redis, replica: Redis): Promise<CatchUp> {
  const m = await replication(master);
  const r = await replication(replica);
  const linkUp = r.role === 'slave' && r.masterLinkUp === true && r.masterSyncInProgress === false;
  return { masterOffset: m.offset, replicaOffset: r.offset, linkUp, caughtUp: linkUp && r.offset >= m.offset && m.offset > 0 };
}

/** Polls catchUpState until caught up; throws after `timeoutMs` with the last offsets. */
export async function awaitCaughtUp(master: Redis, replica: Redis, o: WaitOptions = {}): Promise<CatchUp & { waitedMs: number }> {
  const started = Date.now();
  for (;;) {
    checkAborted(o.signal);
    const s = await catchUpState(master, replica);
    if (s.caughtUp) return { ...s, waitedMs: Date.now() - started };
    if (Date.now() - started > (o.timeoutMs ?? 600_000)) {
      throw new RedisStepError(`replica not caught up after ${o.timeoutMs ?? 600_000} ms: link ${s.linkUp ? 'up' : 'down'}, offset ${s.replicaOffset} of ${s.masterOffset}`);
    }
    o.onProgress?.({ ...s });
    await sleep(o.pollMs ?? 50);
  }
}

/** REPLICAOF NO ONE: the replica becomes a master (keeping its data). Already a master → nothing to do. */
export async function promote(r: Redis): Promise<{ changed: boolean }> {
  if ((await replication(r)).role === 'master') return { changed: false };
  await r.call('REPLICAOF', 'NO', 'ONE');
  return { changed: true };
}

/** How far a replica is behind, in bytes of the master's replication stream (0 when caught up). */
export function lagBytes(s: CatchUp): number {
  return Math.max(0, s.masterOffset - s.replicaOffset);
}

export interface CatchUpWindow extends CatchUp {
  lagBytes: number;
  checkedAt: string;
}

/**
 * Samples the replica for up to `windowMs`: done as soon as its link is up, the initial sync over and it is
 * within `maxLagBytes`; otherwise the last sample (the workflow decides whether to wait on).
 */
export async function catchUpWindow(master: Redis, replica: Redis, o: WaitOptions & { maxLagBytes: number; windowMs: number }): Promise<CatchUpWindow> {
  const started = Date.now();
  for (;;) {
    checkAborted(o.signal);
    const s = await catchUpState(master, replica);
    const sample = { ...s, lagBytes: lagBytes(s), checkedAt: new Date().toISOString() };
    if ((s.linkUp && sample.lagBytes <= o.maxLagBytes) || Date.now() - started >= o.windowMs) return sample;
    o.onProgress?.(sample);
    await sleep(o.pollMs ?? 200);
  }
}

export interface HandOver {
  /** The target was a master already: an earlier attempt promoted it after catching up. */
  alreadyPromoted: boolean;
  pausedAt: string;
  promotedAt: string;
  /** From the write pause on the old side to the new side taking writes. */
  pauseToWritableMs: number;
  catchUpMs: number;
  masterOffset: number;
  replicaOffset: number;
  fromKeyspace: DbKeyspace[];
  toKeyspace: DbKeyspace[];
}

/**
 * The switch of a live replica: writes paused on `from` (a deadline, never forever), the replica's offset at
 * least the master's, then REPLICAOF NO ONE. The pause stays on: the old side keeps refusing writes until the
 * workflow fences or unpauses it. Per-db key counts of both sides are read after the promotion.
 */
export async function handOver(from: Redis, to: Redis, o: { pauseMs: number; timeoutMs: number; signal?: AbortSignal; onProgress?: WaitOptions['onProgress'] }): Promise<HandOver> {
  const started = Date.now();
  await pauseWrites(from, { ms: o.pauseMs });
  const pausedAt = new Date().toISOString();
  const already = (await replication(to)).role === 'master';
  let caught: CatchUp & { waitedMs: number } = { masterOffset: 0, replicaOffset: 0, linkUp: false, caughtUp: true, waitedMs: 0 };
  if (!already) {
    caught = await awaitCaughtUp(from, to, { timeoutMs: o.timeoutMs, pollMs: 2, signal: o.signal, onProgress: o.onProgress });
    await promote(to);
  }
  const promotedAt = Date.now();
  const [fromKeyspace, toKeyspace] = await Promise.all([from, to].map(async (r) => parseKeyspace(await r.info('keyspace'))));
  return {
    alreadyPromoted: already,
    pausedAt,
    promotedAt: new Date(promotedAt).toISOString(),
    pauseToWritableMs: promotedAt - started,
    catchUpMs: caught.waitedMs,
    masterOffset: caught.masterOffset,
    replicaOffset: caught.replicaOffset,
    fromKeyspace,
    toKeyspace,
  };
}

/** Per-db key counts that differ between two keyspaces, as "db0 1200/1199"; empty when equal. */
export function countDifferences(a: DbKeyspace[], b: DbKeyspace[]): string[] {
  const dbs = [...new Set([...a, ...b].map((d) => d.db))].sort((x, y) => x - y);
  const keys = (k: DbKeyspace[], db: number) => k.find((d) => d.db === db)?.keys ?? 0;
  return dbs.filter((db) => keys(a, db) !== keys(b, db)).map((db) => `db${db} ${keys(a, db)}/${keys(b, db)}`);
}

/**
 * Writes paused again (the deadline moved on) and proof that none slipped through since the dump: the last save
 * is still ours and nothing changed since. False when writes happened (the pause ran out, say).
 */
export async function holdWrites(r: Redis, o: { ms: number; lastSaveTime: number }): Promise<{ quiet: boolean; changesSinceSave: number; lastSaveTime: number }> {
  await pauseWrites(r, { ms: o.ms });
  const p = parsePersistence(await r.info('persistence'));
  return { quiet: p.lastSaveTime === o.lastSaveTime && p.changesSinceLastSave === 0, changesSinceSave: p.changesSinceLastSave, lastSaveTime: p.lastSaveTime };
}

/** A replica no more (REPLICAOF NO ONE), emptied when `flush` (it was empty before the move). */
export async function detach(r: Redis, o: { flush: boolean }): Promise<{ wasReplica: boolean; flushed: boolean }> {
  const { changed } = await promote(r);
  if (o.flush) await r.call('FLUSHALL');
  return { wasReplica: changed, flushed: o.flush };
}
