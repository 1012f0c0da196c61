// A server itself: started and stopped with pg_ctl on its host, its state, its settings (ALTER SYSTEM,
// postgresql.auto.conf), and what pg_controldata and pg_waldump say about a stopped one.
import path from 'node:path';
import { cancellationSignal, sleep } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { PgAccess, PgServer } from './types';
import { PgError } from '../clients/pg';
import { shq, type SshConnection } from '../clients/ssh';
import { toFailure } from '../failures';
import { keepBeating } from '../remote';
import { configOption, DEBIAN_CONFIG_ROOT, findConfig } from './layout';
import { bin, CLEAN_ENV, superuser, where, type PgContext, type PgNode } from './context';
import { parseControlData, parseWaldumpRecord, recordEnd, sqlLiteral, type ControlData } from './pg-tools';

export interface ServerState {
  checkedAt: string;
  reachable: boolean;
  inRecovery: boolean | null;
  acceptsWrites: boolean;
  lsn: string | null;
  error?: string;
}

/** pg_ctl status: 0 running, 3 not running, 4 no data directory. */
export async function isRunning(c: SshConnection, access: PgAccess, s: PgServer): Promise<boolean> {
  const r = await c.exec(`${bin(access, 'pg_ctl')} status -D ${shq(s.dataDir)}`, { allowFailure: true });
  return r.code === 0;
}

/** pg_ctl start -w; a running server is left alone. A failed start says what the server's log says. */
export async function start(c: SshConnection, access: PgAccess, server: PgServer): Promise<{ alreadyRunning: boolean; startMs: number }> {
  const started = Date.now();
  if (await isRunning(c, access, server)) return { alreadyRunning: true, startMs: 0 };
  const stop = keepBeating(() => ({ stage: 'starting', dataDir: server.dataDir }));
  try {
    // postgresql.conf may live outside the data directory (Debian: /etc/postgresql/<major>/<cluster>).
    const conf = await findConfig(c, server.dataDir);
    if (!conf) {
      throw ApplicationFailure.nonRetryable(
        `${where(server)}: no postgresql.conf for ${server.dataDir}, neither in it nor under ${DEBIAN_CONFIG_ROOT}/*/* with data_directory = ${server.dataDir}`,
        ErrorType.CommandFailed,
      );
    }
    const r = await c.exec(`${CLEAN_ENV} ${bin(access, 'pg_ctl')} start -D ${shq(server.dataDir)} ${configOption(conf)} -l ${shq(server.logFile)} -w -t 120`, {
      allowFailure: true,
      signal: cancellationSignal(),
    });
    if (r.code !== 0) {
      const tail = (await c.exec(`tail -n 5 ${shq(server.logFile)}`, { allowFailure: true })).stdout.trim();
      throw ApplicationFailure.nonRetryable(`pg_ctl start of ${where(server)} failed: ${r.stderr.trim() || r.stdout.trim()} | log: ${tail}`, ErrorType.CommandFailed);
    }
  } finally {
    stop();
  }
  return { alreadyRunning: false, startMs: Date.now() - started };
}

export async function controlData(c: SshConnection, access: PgAccess, s: PgServer): Promise<ControlData> {
  const r = await c.exec(`LC_ALL=C ${bin(access, 'pg_controldata')} -D ${shq(s.dataDir)}`);
  return parseControlData(r.stdout);
}

/** The end of the checkpoint record pg_control points at: after a clean shutdown, the server's last WAL byte. */
export async function endOfCheckpoint(c: SshConnection, access: PgAccess, s: PgServer, cd: ControlData): Promise<string> {
  const r = await c.exec(`${bin(access, 'pg_waldump')} -p ${shq(path.posix.join(s.dataDir, 'pg_wal'))} -t ${cd.timeline} -s ${cd.checkpointLsn} -n 1`);
  const rec = parseWaldumpRecord(r.stdout);
  return recordEnd(rec.lsn, rec.totalLength, cd.wal);
}

/** ALTER SYSTEM takes no parameters: names are checked, values quoted as SQL literals. */
function settingName(name: string): string {
  if (!/^[a-z_][a-z0-9_.]*$/.test(name)) throw ApplicationFailure.nonRetryable(`not a setting name: ${name}`, ErrorType.InvalidPlan);
  return name;
}

export function createServerActivities(pg: PgContext) {
  return {
    /** pg_ctl start -w; a running server is left alone. */
    async startPostgres(input: { access: PgAccess; server: PgNode }): Promise<{ alreadyRunning: boolean; startMs: number }> {
      const { access, server } = input;
      return pg.onHost(server, `start ${where(server)}`, (c) => start(c, access, server));
    },

    /** pg_ctl stop (fast: open sessions are ended, a shutdown checkpoint is written); a stopped server is left alone. */
    async stopPostgres(input: { access: PgAccess; server: PgNode }): Promise<{ wasRunning: boolean }> {
      const { access, server } = input;
      return pg.onHost(server, `stop ${where(server)}`, async (c) => {
        if (!(await isRunning(c, access, server))) return { wasRunning: false };
        const stop = keepBeating(() => ({ stage: 'stopping' }));
        try {
          await c.exec(`${bin(access, 'pg_ctl')} stop -D ${shq(server.dataDir)} -m fast -w -t 120`, { signal: cancellationSignal() });
        } finally {
          stop();
        }
        return { wasRunning: true };
      });
    },

    /** Is the server up, a primary, taking writes? For the soak and the reports; never throws for a down server. */
    async serverState(input: { access: PgAccess; server: PgServer }): Promise<ServerState> {
      const checkedAt = new Date().toISOString();
      try {
        return await pg.deps.withPg(superuser(input.access, input.server, 'server'), async (q) => {
          const r = await q.one<{ recovery: boolean; ro: string; lsn: string }>(
            `select pg_is_in_recovery() as recovery, current_setting('default_transaction_read_only') as ro,
                    (case when pg_is_in_recovery() then pg_last_wal_replay_lsn() else pg_current_wal_lsn() end)::text as lsn`,
          );
          return { checkedAt, reachable: true, inRecovery: r.recovery, acceptsWrites: !r.recovery && r.ro === 'off', lsn: r.lsn };
        });
      } catch (err) {
        if (err instanceof PgError && err.kind === 'unreachable') return { checkedAt, reachable: false, inRecovery: null, acceptsWrites: false, lsn: null, error: err.message };
        throw toFailure(err, `state of ${where(input.server)}`);
      }
    },

    /** Current values of settings in postgresql.auto.conf (null: not set there), so an undo can restore them. */
    async readAutoConf(input: { access: PgAccess; server: PgServer; names: string[] }): Promise<Record<string, string | null>> {
      return pg.sql(input.access, input.server, `read settings of ${where(input.server)}`, async (q) => {
        const rows = await q.query<{ name: string; setting: string | null }>(
          `select name, setting from pg_file_settings where sourcefile like '%/postgresql.auto.conf' and name = any($1) order by seqno`,
          [input.names],
        );
        const out: Record<string, string | null> = Object.fromEntries(input.names.map((n) => [n, null]));
        for (const r of rows) out[r.name] = r.setting;
        return out;
      });
    },

    /** ALTER SYSTEM SET (or RESET for null) and reload; waits until a session sees the new values. */
    async applySettings(input: { access: PgAccess; server: PgServer; settings: Record<string, string | null> }): Promise<{ applied: Record<string, string> }> {
      return pg.sql(input.access, input.server, `settings on ${where(input.server)}`, async (q) => {
        for (const [name, value] of Object.entries(input.settings)) {
          await q.query(value === null ? `alter system reset ${settingName(name)}` : `alter system set ${settingName(name)} = ${sqlLiteral(value)}`);
        }
        await q.query('select pg_reload_conf()');
        const names = Object.keys(input.settings);
        // The reload reaches this session a moment later. A reset setting goes back to what the configuration
        // files say (postgresql.conf and its includes, read now by pg_file_settings), or its built-in default:
        // wait for that too, not only for values set, so an undo never reports the value it is about to lose.
        for (let i = 0; ; i++) {
          const rows = await q.query<{ name: string; setting: string; expected: string }>(
            `select s.name, current_setting(s.name) as setting,
                    coalesce((select f.setting from pg_file_settings f
                               where f.name = s.name and f.error is null and f.sourcefile not like '%postgresql.auto.conf'
                               order by f.seqno desc limit 1), s.boot_val) as expected
               from pg_settings s where s.name = any($1)`,
            [names],
          );
          const applied = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
          const expected = Object.fromEntries(rows.map((r) => [r.name, r.expected]));
          const ok = Object.entries(input.settings).every(([n, v]) => applied[n] === (v ?? expected[n]));
          if (ok || i >= 50) return { applied };
          await sleep(100);
        }
      });
    },
  };
}
