// Stopping and starting the target's redis-server with the plan's commands, run on its host over SSH (systemctl,
// or the sandbox's redis-ctl.sh), and telling what the server is doing from the outside: down (refuses
// connections), loading a dump (answers LOADING), or up with its keys. Commands run under `timeout`, so one that
// hangs fails the step instead of holding the write pause.
import type { SshHost } from '../../workflows/shared/types';
import { shq } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { keepBeating, onHost } from '../remote';
import { RedisClientError, withRedis, type RedisServerRef } from './client';
import type { RedisEndpoint } from './endpoint';
import { type DbKeyspace, parseInfo, parseKeyspace } from './info';
import { RespConnection, RespConnectionError, RespError } from './resp';
import { RedisStepError } from './replication';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type ServerState =
  | { state: 'down'; why: string }
  | { state: 'loading' }
  | { state: 'up'; keyspace: DbKeyspace[]; keysLoaded: number | null; role: string; runId: string };

/**
 * How often a stop or a start looks at the server. Inside the write pause: every poll interval is, on average,
 * half an interval added to the pause (a probe is a loopback connection and one INFO).
 */
export const POLL_MS = 25;

/** What the server does now, seen by a client: refusing connections, loading, or serving. */
export async function serverState(server: RedisServerRef): Promise<ServerState> {
  try {
    // No ready check: ioredis's would hold the connection while the server loads (a second at a time), and the
    // end of the load would be seen up to a second late.
    return await withRedis(
      server,
      async (r) => {
        // The default sections include persistence (loading), replication (role) and keyspace.
        const text = await r.info();
        const info = parseInfo(text);
        if (info.loading === '1') return { state: 'loading' } as const;
        const loaded = info.rdb_last_load_keys_loaded;
        return { state: 'up', keyspace: parseKeyspace(text), keysLoaded: loaded === undefined ? null : Number(loaded), role: info.role ?? '?', runId: info.run_id ?? '' } as const;
      },
      { readyCheck: false },
    );
  } catch (err) {
    if (/LOADING/.test((err as Error).message)) return { state: 'loading' };
    if (err instanceof RedisClientError && err.kind === 'unreachable') return { state: 'down', why: err.message };
    throw err;
  }
}

/** A plan command on its host, killed after `seconds` (and KILLed 5 s later): `timeout` is coreutils. */
export function timed(command: string, seconds: number): string {
  return `timeout -k 5 ${Math.max(1, Math.ceil(seconds))} sh -c ${shq(command)}`;
}

export interface ServiceInput {
  host: SshHost;
  command: string;
  server: RedisServerRef;
  timeoutMs: number;
}

export async function stopServer(deps: Pick<ActivityDeps, 'withSsh'>, i: ServiceInput, signal?: AbortSignal): Promise<{ wasRunning: boolean; stopMs: number }> {
  const started = Date.now();
  if ((await serverState(i.server)).state === 'down') return { wasRunning: false, stopMs: 0 };
  const stop = keepBeating(() => ({ stopping: i.server.label, ms: Date.now() - started }));
  try {
    await onHost(deps, i.host, `stopping ${i.server.label}`, (c) => c.exec(timed(i.command, i.timeoutMs / 1000), { signal }));
    for (;;) {
      if ((await serverState(i.server)).state === 'down') return { wasRunning: true, stopMs: Date.now() - started };
      if (Date.now() - started > i.timeoutMs) throw new RedisStepError(`${i.server.label} still answers ${Math.round(i.timeoutMs / 1000)} s after \`${i.command}\``);
      await sleep(POLL_MS);
    }
  } finally {
    stop();
  }
}

export interface StartResult {
  alreadyRunning: boolean;
  /** From the start command to serving (loading done). */
  loadMs: number;
  keyspace: DbKeyspace[];
  keysLoaded: number | null;
  /** INFO run_id of the process that serves (a new one at every start). Absent in results of older runs. */
  runId?: string;
}

/**
 * Start it and wait until it serves with its dataset loaded. A server that refuses connections for `downForMs`
 * after its start command has died (a dump it cannot load: Redis checks the RDB checksum and exits): that is
 * reported at once, not after the whole load timeout.
 */
export async function startServer(deps: Pick<ActivityDeps, 'withSsh'>, i: ServiceInput & { downForMs?: number }, signal?: AbortSignal): Promise<StartResult> {
  const started = Date.now();
  const now = await serverState(i.server);
  if (now.state === 'up') return { alreadyRunning: true, loadMs: 0, keyspace: now.keyspace, keysLoaded: now.keysLoaded, runId: now.runId };
  let last: ServerState = now;
  const stop = keepBeating(() => ({ starting: i.server.label, state: last.state, ms: Date.now() - started }));
  try {
    if (now.state === 'down') await onHost(deps, i.host, `starting ${i.server.label}`, (c) => c.exec(timed(i.command, 120), { signal }));
    let downSince = Date.now();
    for (;;) {
      last = await serverState(i.server);
      if (last.state === 'up') return { alreadyRunning: false, loadMs: Date.now() - started, keyspace: last.keyspace, keysLoaded: last.keysLoaded, runId: last.runId };
      if (last.state !== 'down') downSince = Date.now();
      else if (Date.now() - downSince > (i.downForMs ?? 10_000)) {
        throw new RedisStepError(
          `${i.server.label} refuses connections ${Math.round((Date.now() - downSince) / 1000)} s after \`${i.command}\` (${last.why}): it did not start or died loading its dump (a corrupt RDB?): see its log on ${i.host.name}`,
        );
      }
      if (Date.now() - started > i.timeoutMs) throw new RedisStepError(`${i.server.label} still ${last.state} ${Math.round(i.timeoutMs / 1000)} s after \`${i.command}\``);
      await sleep(POLL_MS);
    }
  } finally {
    stop();
  }
}

/**
 * Until the server serves under another run id than `oldRunId` (restarted, its dump loaded); returns that run id.
 * While the old run serves, one connection is held open and nothing is polled: the old run can only end by closing
 * it (a PING every second catches a server that went silent instead); then every POLL_MS until the new run serves,
 * as a start's own wait does. Dump mode's comparison waits so from before the write pause through BGSAVE, the copy
 * and the load: a fresh login and INFO every 25 ms all that time cost BGSAVE 3–9% here (1.29 → 1.38 s a save).
 */
export async function awaitNewRun(ep: RedisEndpoint, oldRunId: string, stop: AbortSignal, onWait: (state: string) => void): Promise<string> {
  const stopped = () => (stop.reason instanceof Error ? stop.reason : new Error('wait for the target cancelled'));
  const aborted = new Promise<'stopped'>((r) => (stop.aborted ? r('stopped') : stop.addEventListener('abort', () => r('stopped'), { once: true })));
  for (;;) {
    if (stop.aborted) throw stopped();
    let conn: RespConnection | null = null;
    try {
      conn = await RespConnection.open(ep, 0, { timeoutMs: 2000 });
      const replies = await conn.exec([['INFO', 'server'], ['INFO', 'persistence']]);
      const refused = replies.find((r) => r instanceof RespError) as RespError | undefined;
      if (refused && !/^LOADING/.test(refused.message)) throw new Error(`${ep.label ?? ep.host}: INFO: ${refused.message}`);
      const info = refused ? { loading: '1' } : parseInfo(replies.map(String).join('\n'));
      if (info.loading === '1') onWait('loading');
      else if ((info.run_id ?? '') !== oldRunId) return info.run_id ?? '';
      else {
        // The old run: held until its connection closes (the server stopped), or a PING goes unanswered for a second.
        const c = conn;
        const closed = new Promise<'closed'>((r) => c.onMessages(() => undefined, () => r('closed')));
        for (;;) {
          onWait('up (not restarted yet)');
          const next = await Promise.race([closed, aborted, sleep(1000).then(() => 'tick' as const)]);
          if (next !== 'tick') break;
          const alive = await Promise.race([c.exec([['PING']]).then(() => true, () => false), sleep(1000).then(() => false)]);
          if (!alive) break;
        }
      }
    } catch (err) {
      if (!(err instanceof RespConnectionError) && !/LOADING/.test((err as Error).message)) throw err;
      onWait('down');
    } finally {
      conn?.close();
    }
    await sleep(POLL_MS);
  }
}
