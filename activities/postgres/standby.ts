// The standby: its base backup (and the undo that removes it), its configuration, and the old primary's
// rejoin as a standby of the new one (the reverse move's first step).
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { activityInfo, cancellationSignal, cancelled, heartbeat, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { SecretRef } from '../../workflows/shared/types';
import type { PgAccess, PgServer } from './types';
import { shq, type SshConnection } from '../clients/ssh';
import { toFailure } from '../failures';
import { assertRemovable, emptyDirectory, keepBeating, restoreTarget, runInOwnSession, stopSession, writeRemoteFile, type TargetState } from '../remote';
import { readSecret } from '../secrets';
import { bin, CLEAN_ENV, where, type PgContext, type PgNode } from './context';
import { conninfo, editAutoConf, lsnAtLeast, parseBaseBackupProgress, parseTimelineHistory, passfileLine } from './pg-tools';
import { controlData, endOfCheckpoint, isRunning } from './servers';
import { caFileOf, libpqTls, libpqTlsEnv, writeCaFile } from './tls';

export interface BaseBackupResult {
  bytes: number;
  durationMs: number;
  rateBytesPerSec: number;
  attempt: number;
  /** A previous attempt's partial copy was removed first. */
  cleanedPartial: boolean;
  alreadyDone: boolean;
}

export interface RejoinResult {
  rewound: boolean;
  reason: string;
  alreadyStandby: boolean;
}

/** Shell word: the pid file of the pg_basebackup that fills `dir` (its session id), beside the directory. */
function baseBackupPidFile(dir: string): string {
  return shq(`${dir}.basebackup.pid`);
}

/**
 * Shell: take over `dir` for this attempt, waiting out whatever an earlier attempt still does there.
 *
 * An attempt that timed out keeps running on the host: its pg_basebackup, or its removal of a partial copy,
 * which could delete what this attempt writes. So each attempt (and the compensation) first writes its own token
 * in `<dir>.basebackup.attempt` (an older attempt that reads it afterwards knows it lost and stops), then takes
 * an exclusive flock on `<dir>.basebackup.lock`, stopping the previous pg_basebackup session until it gets the
 * lock. Everything after this prefix, in the same command, runs with the lock held (fd 9): the cleanup and the
 * whole pg_basebackup, which inherits the descriptor. `stillOurs` re-checks the token and exits 75 otherwise.
 */
function takeOver(dir: string, token: string): string {
  const t = shq(`${dir}.basebackup.attempt`);
  return (
    `echo ${shq(token)} > ${t} && exec 9> ${shq(`${dir}.basebackup.lock`)} || exit 1; ` +
    `until flock -n 9; do ${stopSession(baseBackupPidFile(dir))}; sleep 0.2; done`
  );
}

/** Shell: exit 75 unless the attempt token is still `token` (a newer attempt took over meanwhile). */
function stillOurs(dir: string, token: string): string {
  return `[ "$(cat ${shq(`${dir}.basebackup.attempt`)} 2>/dev/null)" = ${shq(token)} ] || { echo 'cutover: superseded by a newer attempt' >&2; exit 75; }`;
}

const SUPERSEDED = 75;

/** A password a tool on a host logs in with; one the worker cannot read fails the step for good. */
async function password(ref: SecretRef, what: string, context: string): Promise<string> {
  try {
    return await readSecret(ref, what);
  } catch (err) {
    throw toFailure(err, context);
  }
}

/**
 * Writes the replication passfile on the standby's host (stdin only: never on a command line), and the CA its
 * replication connection verifies the upstream's certificate with.
 */
async function writePassfile(c: SshConnection, access: PgAccess, node: PgServer, upstream: PgServer): Promise<void> {
  const secret = await password(access.replication.password, 'postgres.replication', 'replication password');
  await writeRemoteFile(c, node.passfile, passfileLine(upstream.address, upstream.port, access.replication.user, secret));
  try {
    await writeCaFile(c, access, node);
  } catch (err) {
    throw toFailure(err, 'postgres.tls.ca');
  }
}

/** postgresql.auto.conf edited like ALTER SYSTEM would (the server is stopped), plus standby.signal. */
async function configureAsStandby(
  c: SshConnection,
  input: { migrationId: string; access: PgAccess; node: PgServer; upstream: PgServer; slot: string; applicationName: string; walRetrieveRetryIntervalMs: number },
  extra: Record<string, string | null>,
): Promise<void> {
  const { access, node, upstream } = input;
  const file = path.posix.join(node.dataDir, 'postgresql.auto.conf');
  const current = (await c.exec(`cat ${shq(file)} 2>/dev/null || true`)).stdout;
  const changes: Record<string, string | null> = {
    ...extra,
    listen_addresses: node.address,
    port: String(node.port),
    primary_conninfo: conninfo({
      host: upstream.address,
      port: upstream.port,
      user: access.replication.user,
      passfile: node.passfile,
      application_name: input.applicationName,
      // The walreceiver checks the upstream's certificate (verify-full, the CA beside the passfile).
      ...libpqTls(access, node),
    }),
    primary_slot_name: input.slot,
    promote_trigger_file: node.triggerFile,
    // With the 5 s default, a standby whose primary is gone looks for the trigger file only every 5 s.
    wal_retrieve_retry_interval: `${input.walRetrieveRetryIntervalMs}ms`,
    ...node.settings,
  };
  const text = editAutoConf(current, changes, `cutover ${input.migrationId}: standby of ${upstream.address}:${upstream.port}`);
  await writeRemoteFile(c, file, text);
  // A trigger file left from an earlier run would promote the standby the moment it starts.
  await c.exec(`rm -f ${shq(node.triggerFile)} && touch ${shq(path.posix.join(node.dataDir, 'standby.signal'))} && chmod 700 ${shq(node.dataDir)}`);
}

export function createStandbyActivities(pg: PgContext) {
  return {
    /**
     * pg_basebackup on the standby's host, streaming WAL through the slot, then the standby configuration.
     * A retry first stops a previous attempt's pg_basebackup and removes its partial copy: that is safe
     * because the directory was absent or empty before cutover (preflight), or the plan allows overwriting.
     */
    async baseBackup(input: {
      migrationId: string;
      access: PgAccess;
      primary: PgNode;
      standby: PgNode;
      slot: string;
      applicationName: string;
      maxRateBytesPerSec: number;
      previousState: TargetState;
      overwrite: boolean;
      walRetrieveRetryIntervalMs: number;
    }): Promise<BaseBackupResult> {
      const { access, primary, standby } = input;
      const info = activityInfo();
      const started = Date.now();
      const dir = assertRemovable(standby.dataDir);
      const marker = `cutover ${input.migrationId}: standby of`;
      if (input.previousState === 'non-empty' && !input.overwrite) {
        throw ApplicationFailure.nonRetryable(`standby.dataDir ${dir} was not empty before the move and the plan does not allow overwriting it`, ErrorType.InvalidPlan);
      }
      const token = `${info.workflowExecution?.runId ?? ''}/${info.activityId}/${info.attempt}/${randomUUID()}`;
      let stage = 'checking';
      let progress = { doneBytes: 0, totalBytes: 0, percent: 0 };
      let rate = 0;
      let cleanedPartial = false;
      // `bytes`, `percent` and `rate` are what `cutover watch` draws its progress bar from. Heartbeats run on a
      // clock from the start: waiting out an earlier attempt and removing a partial copy take time too.
      const beat = () => ({
        stage,
        ...progress,
        bytes: progress.doneBytes,
        rateBytesPerSec: rate,
        rate: `${(rate / 1024 / 1024).toFixed(1)}MB/s`,
        attempt: info.attempt,
        cleanedPartial,
      });
      const stop = keepBeating(beat);
      try {
        return await pg.onHost(standby, `base backup on ${standby.host}`, async (c) => {
          const state = (
            await c.exec(
              `p=${shq(dir)}; if [ -f "$p/postmaster.pid" ] && kill -0 "$(head -1 "$p/postmaster.pid")" 2>/dev/null; then echo running; ` +
                `elif [ -f "$p/standby.signal" ] && [ -f "$p/backup_label" -o -f "$p/backup_manifest" ] && grep -qF ${shq(marker)} "$p/postgresql.auto.conf" 2>/dev/null; then echo done; ` +
                `elif [ -d "$p" ] && [ -n "$(ls -A "$p")" ]; then echo partial; else echo clean; fi`,
            )
          ).stdout.trim();
          if (state === 'running') {
            throw ApplicationFailure.nonRetryable(`a PostgreSQL server is running in ${dir} on ${standby.host}: refusing to touch it`, ErrorType.CommandFailed);
          }
          if (state === 'done') {
            const du = await c.exec(`du -sb ${shq(dir)} | cut -f1`);
            return { bytes: Number(du.stdout.trim()), durationMs: 0, rateBytesPerSec: 0, attempt: info.attempt, cleanedPartial: false, alreadyDone: true };
          }
          await writePassfile(c, access, standby, primary);

          const args = [
            `env -u PGPASSWORD PGPASSFILE=${shq(standby.passfile)} ${libpqTlsEnv(access, standby)}`,
            bin(access, 'pg_basebackup'),
            `-h ${shq(primary.address)} -p ${primary.port} -U ${shq(access.replication.user)}`,
            `-D ${shq(dir)} -X stream -S ${shq(input.slot)} -c fast -P -v -w`,
            input.maxRateBytesPerSec > 0 ? `-r ${Math.max(32, Math.floor(input.maxRateBytesPerSec / 1024))}k` : '',
          ].filter(Boolean);
          // One command under the lock: wait out (and stop) an earlier attempt, remove a partial copy it left, copy.
          const command =
            `${takeOver(dir, token)}; ${stillOurs(dir, token)}; ` +
            `if [ -d ${shq(dir)} ] && [ -n "$(ls -A ${shq(dir)})" ]; then echo 'cutover: removing a partial copy' >&2; ${emptyDirectory(dir)} || exit 1; fi; ` +
            `${stillOurs(dir, token)}; echo 'cutover: copying' >&2; ${runInOwnSession(baseBackupPidFile(dir), args.join(' '))}`;
          stage = 'waiting for an earlier attempt';
          let r;
          try {
            r = await c.exec(command, {
              signal: cancellationSignal(),
              allowFailure: true,
              onStderr: (chunk) => {
                if (chunk.includes('cutover: removing a partial copy')) {
                  stage = 'removing a partial copy';
                  cleanedPartial = true;
                  log.info('removing a partial base backup before starting again', { dir, attempt: info.attempt });
                }
                if (chunk.includes('cutover: copying')) stage = 'copying';
                const p = parseBaseBackupProgress(chunk);
                if (p) {
                  progress = p;
                  rate = Math.round(p.doneBytes / Math.max(0.001, (Date.now() - started) / 1000));
                  heartbeat(beat());
                }
              },
            });
          } catch (err) {
            // Cancelled (or the connection dropped): make sure no pg_basebackup keeps writing after this attempt.
            await pg.deps.withSsh(standby.ssh, (k) => k.exec(stopSession(baseBackupPidFile(dir)))).catch(() => undefined);
            if (cancellationSignal().aborted) await cancelled(); // report the cancellation, not a failure to retry
            throw ApplicationFailure.retryable(`pg_basebackup into ${dir} on ${standby.host} failed: ${(err as Error).message}`, ErrorType.Transient);
          }
          if (r.code === SUPERSEDED) {
            throw ApplicationFailure.retryable(`base backup into ${dir}: a newer attempt took over`, ErrorType.Transient);
          }
          if (r.code !== 0) {
            await c.exec(stopSession(baseBackupPidFile(dir)), { allowFailure: true });
            const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
            throw ApplicationFailure.retryable(`pg_basebackup into ${dir} on ${standby.host} exited ${r.code}: ${tail}`, ErrorType.Transient);
          }
          stage = 'configuring';
          await configureAsStandby(c, { ...input, node: standby, upstream: primary }, {});
          const durationMs = Date.now() - started;
          const bytes = progress.totalBytes || Number((await c.exec(`du -sb ${shq(dir)} | cut -f1`)).stdout.trim());
          return { bytes, durationMs, rateBytesPerSec: Math.round(bytes / Math.max(0.001, durationMs / 1000)), attempt: info.attempt, cleanedPartial, alreadyDone: false };
        });
      } finally {
        stop();
      }
    },

    /** Compensation: remove what the base backup created (the plan allowed it), and the passfile. */
    async removeStandbyDataDir(input: { access: PgAccess; standby: PgNode; previousState: TargetState }): Promise<{ removed: string }> {
      const { access, standby } = input;
      const dir = assertRemovable(standby.dataDir);
      // pg_ctl stop waits up to 120 s and removing a large copy takes long: heartbeat throughout.
      let stage = 'checking';
      const stop = keepBeating(() => ({ stage, dataDir: dir }));
      try {
        return await pg.onHost(standby, `remove ${dir}`, async (c) => {
          if (await isRunning(c, access, standby)) {
            stage = 'stopping the standby';
            await c.exec(`${bin(access, 'pg_ctl')} stop -D ${shq(dir)} -m fast -w -t 120`, { signal: cancellationSignal() });
          }
          // Take the directory over from any base backup attempt still running (it stops, or finds it lost).
          stage = 'stopping any base backup';
          const token = `remove/${activityInfo().attempt}/${randomUUID()}`;
          await c.exec(`${takeOver(dir, token)}; rm -f ${shq(standby.passfile)} ${shq(caFileOf(standby))} ${shq(standby.triggerFile)}`, { signal: cancellationSignal() });
          stage = 'removing';
          const done = await restoreTarget(c, dir, input.previousState, cancellationSignal());
          await c.exec(`rm -f ${shq(`${dir}.basebackup.attempt`)} ${shq(`${dir}.basebackup.lock`)}`);
          const was = done === 'removed' ? 'cutover created it' : `it was ${input.previousState} before`;
          return { removed: `${dir} ${done} (${was}); passfile removed; log kept at ${standby.logFile}` };
        });
      } finally {
        stop();
      }
    },

    /**
     * The reverse move's first step: the old primary (stopped cleanly by the fence) becomes a standby of the new
     * primary. Its last checkpoint is at or before the point where the new primary's timeline branched, so it
     * can follow the new timeline as it is; if not (it crashed, or wrote after the fence), pg_rewind first.
     * The settings the forward move changed (read-only fence, synchronous standby) are restored as they were.
     */
    async rejoinAsStandby(input: {
      migrationId: string;
      access: PgAccess;
      node: PgNode;
      upstream: PgNode;
      slot: string;
      applicationName: string;
      walRetrieveRetryIntervalMs: number;
      restore: Record<string, string | null>;
      /** Settings of the other server that pg_rewind would copy over and that must not stay. */
      foreignSettings: string[];
    }): Promise<RejoinResult> {
      const { access, node, upstream } = input;
      const history = await pg.sql(access, upstream, `timeline of ${where(upstream)}`, async (q) => {
        const r = await q.one<{ walfile: string }>('select pg_walfile_name(pg_current_wal_lsn()) as walfile');
        const tli = parseInt(r.walfile.slice(0, 8), 16);
        if (tli === 1) return new Map<number, string>();
        const name = `${r.walfile.slice(0, 8)}.history`;
        const h = await q.one<{ text: string }>('select pg_read_file($1) as text', [`pg_wal/${name}`]);
        return parseTimelineHistory(h.text);
      });
      return pg.onHost(node, `rejoin ${where(node)} as a standby of ${where(upstream)}`, async (c) => {
        if (await isRunning(c, access, node)) {
          const inRecovery = await pg.sql(access, node, 'rejoin', async (q) => (await q.one<{ r: boolean }>('select pg_is_in_recovery() as r')).r);
          if (inRecovery) return { rewound: false, reason: 'already running as a standby', alreadyStandby: true };
          throw ApplicationFailure.nonRetryable(`${where(node)} is running as a primary: refusing to turn it into a standby`, ErrorType.CommandFailed);
        }
        const cd = await controlData(c, access, node);
        const branch = history.get(cd.timeline);
        let reason: string;
        let rewind: boolean;
        if (cd.state !== 'shut down') {
          rewind = true;
          reason = `it was not shut down cleanly (state "${cd.state}")`;
        } else if (!branch) {
          rewind = true;
          reason = `the new primary's history has no branch from timeline ${cd.timeline}`;
        } else {
          const end = await endOfCheckpoint(c, access, node, cd);
          rewind = !lsnAtLeast(branch, end);
          reason = rewind
            ? `its WAL goes on to ${end}, past the branch point ${branch}`
            : `clean shutdown at ${end}, the new timeline branched at ${branch}: no rewind needed`;
        }
        if (rewind) {
          log.warn('old primary diverged: running pg_rewind', { node: where(node), reason });
          // pg_rewind logs in as the superuser; its password goes through a temporary passfile, never a command line.
          const su = await password(access.superuser.password, 'postgres.superuser', 'superuser password');
          const tmp = `${node.passfile}.rewind`;
          await writeRemoteFile(c, tmp, passfileLine(upstream.address, upstream.port, access.superuser.user, su));
          await writeCaFile(c, access, node).catch((err: unknown) => {
            throw toFailure(err, 'postgres.tls.ca');
          });
          const source = conninfo({ host: upstream.address, port: upstream.port, user: access.superuser.user, dbname: access.database, passfile: tmp, ...libpqTls(access, node) });
          const stop = keepBeating(() => ({ stage: 'pg_rewind' }));
          try {
            await c.exec(`${CLEAN_ENV} ${bin(access, 'pg_rewind')} --target-pgdata=${shq(node.dataDir)} --source-server=${shq(source)} --progress`);
          } finally {
            stop();
            await c.exec(`rm -f ${shq(tmp)}`, { allowFailure: true });
          }
        }
        await writePassfile(c, access, node, upstream);
        // pg_rewind copies the source's config files: drop what belongs to the other server.
        const dropForeign = Object.fromEntries((rewind ? input.foreignSettings : []).map((n) => [n, null]));
        await configureAsStandby(c, { ...input, upstream }, { ...dropForeign, ...input.restore });
        return { rewound: rewind, reason, alreadyStandby: false };
      });
    },

    /** Remove the replication passfile of a server that is no longer a standby. */
    async removePassfile(input: { server: PgNode }): Promise<{ removed: string }> {
      await pg.onHost(input.server, `remove passfile on ${input.server.host}`, (c) => c.exec(`rm -f ${shq(input.server.passfile)} ${shq(caFileOf(input.server))}`));
      return { removed: input.server.passfile };
    },
  };
}
