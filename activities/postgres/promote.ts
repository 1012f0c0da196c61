// The promotion: the standby leaves recovery (trigger file or pg_promote) and is seen to take a write.
import { heartbeat, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { PgAccess } from './types';
import type { PgSession } from '../clients/pg';
import { where, type PgContext, type PgNode } from './context';
import { sqlLiteral } from './pg-tools';

export interface PromoteResult {
  alreadyPromoted: boolean;
  method: 'trigger-file' | 'pg_promote';
  /** From the trigger (or pg_promote) to the first write the new primary accepted. */
  promoteMs: number;
  /** When the promotion was seen done: a client may have committed a few ms earlier (the check polls). */
  writableAt: string;
  /** The last moment the server was seen in recovery (when that check was sent): no commit can precede it. */
  inRecoveryAt: string | null;
  timeline: number;
  lsn: string;
}

export function createPromoteActivities(pg: PgContext) {
  return {
    /** Promote by the trigger file (or pg_promote) and wait until the server is out of recovery and takes a write. */
    async promoteStandby(input: { access: PgAccess; standby: PgNode; method: 'trigger-file' | 'pg_promote'; timeoutMs: number }): Promise<PromoteResult> {
      const { access, standby } = input;
      const where_ = `promote ${where(standby)}`;
      const status = async (q: PgSession) =>
        q.one<{ recovery: boolean; lsn: string | null; walfile: string | null }>(
          `select pg_is_in_recovery() as recovery,
                  case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as lsn,
                  case when pg_is_in_recovery() then null else pg_walfile_name(pg_current_wal_lsn()) end as walfile`,
        );
      return pg.sql(access, standby, where_, async (q) => {
        const before = await status(q);
        if (!before.recovery) {
          return { alreadyPromoted: true, method: input.method, promoteMs: 0, writableAt: new Date().toISOString(), inRecoveryAt: null, timeline: parseInt(before.walfile!.slice(0, 8), 16), lsn: before.lsn! };
        }
        const trigger = async () => {
          if (input.method === 'pg_promote') {
            const t0 = Date.now();
            await q.query('select pg_promote(false)');
            return t0;
          }
          // The standby's own server writes the trigger file (COPY TO a server file, as the superuser): the
          // session is open already, so no SSH handshake sits inside the write outage. The server can always
          // write there, since it removes the file itself when it promotes.
          const t0 = Date.now();
          await q.query(`copy (select where false) to ${sqlLiteral(standby.triggerFile)}`);
          return t0;
        };
        const t0 = await trigger();
        let inRecoveryAt = t0;
        for (;;) {
          const sentAt = Date.now();
          const s = await status(q);
          if (!s.recovery) {
            // Out of recovery is not yet "takes writes": assigning a transaction id is.
            await q.query('select txid_current()');
            const promoteMs = Date.now() - t0;
            return {
              alreadyPromoted: false,
              method: input.method,
              promoteMs,
              writableAt: new Date().toISOString(),
              inRecoveryAt: new Date(inRecoveryAt).toISOString(),
              timeline: parseInt(s.walfile!.slice(0, 8), 16),
              lsn: s.lsn!,
            };
          }
          inRecoveryAt = sentAt;
          if (Date.now() - t0 > input.timeoutMs) {
            throw ApplicationFailure.nonRetryable(
              `${where(standby)} is still in recovery ${Math.round(input.timeoutMs / 1000)} s after ${input.method === 'pg_promote' ? 'pg_promote()' : `touching ${standby.triggerFile}`}`,
              ErrorType.CommandFailed,
            );
          }
          heartbeat({ stage: 'waiting-for-promotion', sinceMs: Date.now() - t0 });
          await sleep(10);
        }
      });
    },
  };
}
