// Preflight of a failover: read-only checks of both servers, both hosts, the replication login and DNS.
import net from 'node:net';
import path from 'node:path';
import type { DnsSwitch, SecretRef } from '../../workflows/shared/types';
import type { PgAccess } from './types';
import { DEFAULT_PG_SECURITY, describePgSecurity, PgError, type PgEndpoint, type PgSession } from '../clients/pg';
import { shq, type SshConnection } from '../clients/ssh';
import { lookupA } from '../dns';
import { lacksRoom, Problems, probeTarget, type TargetState } from '../remote';
import { readSecret, secretProblems } from '../secrets';
import { bin, superuser, where, type PgContext, type PgNode } from './context';
import { DEBIAN_CONFIG_ROOT, findConfig } from './layout';
import { caPem } from './tls';
import { conninfo, isSafeIdentifier, majorVersion } from './pg-tools';

export interface PostgresPreflightInput {
  access: PgAccess;
  primary: PgNode;
  standby: PgNode & { overwrite: boolean };
  slotName: string;
  applicationName: string;
  dns: Pick<DnsSwitch, 'server' | 'port' | 'name'>;
  /** Every secret the run names, by field: each must be in the worker's store (absent in runs from before). */
  secrets?: Record<string, SecretRef>;
}

export interface PostgresPreflightResult {
  primaryVersion: string;
  standbyBinVersion: string;
  walLevel: string;
  maxWalSenders: number;
  walSendersInUse: number;
  maxReplicationSlots: number;
  slotsInUse: number;
  primarySizeBytes: number;
  standbyFreeBytes: number;
  targetState: TargetState;
  primaryLsn: string;
  systemIdentifier: string;
  /** wal_log_hints or data checksums: pg_rewind can bring back a primary that did not shut down cleanly. */
  rewindable: boolean;
  dnsAddresses: string[];
  /** The primary's postgresql.conf and pg_hba.conf (SHOW config_file, hba_file): Debian keeps them in /etc. */
  primaryConfigFile?: string;
  primaryHbaFile?: string;
  /** The postgresql.conf the standby will start with, when it is not in its data directory (Debian layout). */
  standbyConfigFile?: string;
  /** How connections are secured (TLS, password methods), saying so when the plan relaxed the default. */
  connectionSecurity?: string;
}

/** One preflight's findings so far: later checks read what earlier ones saw (the primary's version, its identity). */
interface Findings {
  input: PostgresPreflightInput;
  result: PostgresPreflightResult;
  problems: Problems;
  primaryMajor: number | null;
}

export function createPreflightActivities(pg: PgContext) {
  return {
    /** Read-only checks of both servers and hosts; every problem is reported at once, nothing is changed. */
    async preflightPostgres(input: PostgresPreflightInput): Promise<PostgresPreflightResult> {
      const { access, primary, standby } = input;
      const problems = new Problems();
      const f: Findings = { input, result: emptyResult(), problems, primaryMajor: null };
      for (const [what, name] of [['options.slotName', input.slotName], ['options.applicationName', input.applicationName]]) {
        if (!isSafeIdentifier(name)) problems.add(`${what} "${name}" must be lowercase letters, digits and _ (at most 63)`);
      }

      // Secrets first: without them there is nothing to log in with. Messages name the secret, not a value. The
      // passwords are checked where they are used; every other secret the run names (SSH keys, the TSIG key) here.
      const superuserPassword = await problems.check(null, () => readSecret(access.superuser.password, 'postgres.superuser'));
      const replicationPassword = await problems.check(null, () => readSecret(access.replication.password, 'postgres.replication'));
      const passwords = new Set([access.superuser.password.secret, access.replication.password.secret]);
      const others = Object.fromEntries(Object.entries(input.secrets ?? {}).filter(([, ref]) => !passwords.has(ref.secret)));
      for (const p of await secretProblems(others)) problems.add(p);

      if (superuserPassword !== undefined) {
        await problems.check(null, () => pg.deps.withPg(superuser(access, primary, 'primary'), (q) => checkPrimaryServer(q, f)));
      }
      await problems.check(`primary host ${primary.host}`, () => pg.deps.withSsh(primary.ssh, (c) => checkPrimaryHost(c, f)));
      // The replication login from the worker first, under cutover's rules (TLS verified, SCRAM only): the
      // standby host's libpq (PostgreSQL 15 has no require_auth) is given the password only once the primary
      // has shown it asks for SCRAM, so a server that would take it in clear text never gets it.
      // A primary whose pg_hba.conf takes replication only from the standby's address (28000, no entry for the
      // worker) is left to that login: the certificate, verified there too, says it is the primary.
      const replicationOk =
        replicationPassword !== undefined &&
        (await problems.check(null, () =>
          pg.deps.withPg(replicationLogin(access, primary), (q) => q.query('IDENTIFY_SYSTEM')).catch((err: unknown) => {
            if (err instanceof PgError && err.code === '28000' && /no pg_hba\.conf entry/.test(err.message)) return [];
            throw err;
          }),
        )) !== undefined;
      await problems.check(`standby host ${standby.host}`, () => pg.deps.withSsh(standby.ssh, (c) => checkStandbyHost(c, f, replicationOk ? replicationPassword : undefined)));

      const { result } = f;
      result.connectionSecurity = describePgSecurity(access.tls);
      if (lacksRoom(result.standbyFreeBytes, result.primarySizeBytes)) {
        problems.add(`standby host ${standby.host} has ${result.standbyFreeBytes} bytes free for ${standby.dataDir}; the primary holds ${result.primarySizeBytes}`);
      }
      // Nothing may already answer where the standby will listen.
      if (await somethingListens(standby.address, standby.port)) {
        problems.add(`something already listens on ${standby.address}:${standby.port} (standby.address/port)`);
      }
      await problems.check('traffic.dns', () => checkDns(f));

      problems.throwIfAny();
      return result;
    },
  };
}

/** The replication user's login to the primary, as the standby will make it (replication=true). */
function replicationLogin(access: PgAccess, primary: PgNode): PgEndpoint {
  return { ...superuser(access, primary, 'primary'), label: `replication login to primary ${where(primary)}`, user: access.replication.user, password: access.replication.password, replication: true };
}

function emptyResult(): PostgresPreflightResult {
  return {
    primaryVersion: '',
    standbyBinVersion: '',
    walLevel: '',
    maxWalSenders: 0,
    walSendersInUse: 0,
    maxReplicationSlots: 0,
    slotsInUse: 0,
    primarySizeBytes: 0,
    standbyFreeBytes: 0,
    targetState: 'absent',
    primaryLsn: '',
    systemIdentifier: '',
    rewindable: false,
    dnsAddresses: [],
  };
}

/** The primary server: a primary, WAL for a standby, free senders and slots, no leftovers of an earlier run. */
async function checkPrimaryServer(q: PgSession, f: Findings): Promise<void> {
  const { input, result, problems } = f;
  const { access, primary } = input;
  const r = await q.one<Record<string, string | number | boolean | null>>(
    `select current_setting('server_version_num')::int as version_num, current_setting('server_version') as version,
            current_setting('wal_level') as wal_level, current_setting('max_wal_senders')::int as max_wal_senders,
            current_setting('max_replication_slots')::int as max_slots, current_setting('hot_standby') as hot_standby,
            current_setting('wal_log_hints') as wal_log_hints, current_setting('data_checksums') as data_checksums,
            current_setting('data_directory') as data_directory, pg_is_in_recovery() as in_recovery,
            current_setting('config_file') as config_file, current_setting('hba_file') as hba_file,
            case when pg_is_in_recovery() then null else pg_current_wal_lsn()::text end as lsn,
            (select count(*) from pg_stat_replication)::int as senders,
            (select count(*) from pg_replication_slots)::int as slots,
            (select sum(pg_database_size(datname)) from pg_database)::float8 as size,
            (select coalesce(sum(size), 0) from pg_ls_waldir())::float8 as wal_size,
            (select system_identifier::text from pg_control_system()) as sysid`,
  );
  result.primaryVersion = String(r.version);
  f.primaryMajor = majorVersion(Number(r.version_num));
  result.walLevel = String(r.wal_level);
  result.maxWalSenders = Number(r.max_wal_senders);
  result.walSendersInUse = Number(r.senders);
  result.maxReplicationSlots = Number(r.max_slots);
  result.slotsInUse = Number(r.slots);
  result.primarySizeBytes = Number(r.size) + Number(r.wal_size);
  result.primaryLsn = String(r.lsn ?? '');
  result.systemIdentifier = String(r.sysid);
  result.rewindable = r.wal_log_hints === 'on' || r.data_checksums === 'on';
  result.primaryConfigFile = String(r.config_file);
  result.primaryHbaFile = String(r.hba_file);
  const p = `primary ${where(primary)}`;
  if (r.in_recovery) problems.add(`${p} is in recovery: it is a standby, not a primary`);
  if (r.wal_level !== 'replica' && r.wal_level !== 'logical') {
    problems.add(`${p}: wal_level is ${r.wal_level}; a standby needs wal_level = replica (or logical), which takes a restart`);
  }
  if (result.maxWalSenders - result.walSendersInUse < 2) {
    problems.add(`${p}: max_wal_senders is ${result.maxWalSenders} with ${result.walSendersInUse} in use; pg_basebackup needs 2 free`);
  }
  if (result.maxReplicationSlots - result.slotsInUse < 1) {
    problems.add(`${p}: max_replication_slots is ${result.maxReplicationSlots} with ${result.slotsInUse} in use; the standby needs 1 free`);
  }
  if (r.hot_standby !== 'on') problems.add(`${p}: hot_standby is off; the standby (which copies postgresql.conf) must accept queries to report replay`);
  if (r.data_directory !== primary.dataDir) {
    problems.add(`primary.dataDir is ${primary.dataDir} but ${p} runs from ${r.data_directory}`);
  }
  const slot = await q.query<{ active: boolean }>('select active from pg_replication_slots where slot_name = $1', [input.slotName]);
  if (slot.length) {
    problems.add(
      `${p}: replication slot ${input.slotName} already exists (${slot[0].active ? 'active' : 'inactive'}); ` +
        `left by an earlier run? drop it with select pg_drop_replication_slot('${input.slotName}')`,
    );
  }
  const app = await q.query('select pid from pg_stat_replication where application_name = $1', [input.applicationName]);
  if (app.length) problems.add(`${p}: a standby named ${input.applicationName} is already connected`);
  const role = await q.query<{ rolreplication: boolean; rolcanlogin: boolean }>(
    'select rolreplication, rolcanlogin from pg_roles where rolname = $1',
    [access.replication.user],
  );
  if (!role.length) problems.add(`${p}: replication user ${access.replication.user} does not exist`);
  else if (!role[0].rolreplication || !role[0].rolcanlogin) {
    problems.add(`${p}: role ${access.replication.user} needs LOGIN and REPLICATION`);
  }
}

/** The primary's host: pg_ctl/pg_controldata/pg_waldump fence it at cutover. */
async function checkPrimaryHost(c: SshConnection, f: Findings): Promise<void> {
  const { input, result, problems } = f;
  const { access, primary } = input;
  const v = await c.exec(`${bin(access, 'postgres')} --version && test -x ${bin(access, 'pg_controldata')} && test -x ${bin(access, 'pg_waldump')}`, {
    allowFailure: true,
  });
  if (v.code !== 0) problems.add(`primary host ${primary.host}: PostgreSQL tools not found in ${access.binDir}`);
  else if (f.primaryMajor !== null && majorVersion(v.stdout) !== f.primaryMajor) {
    problems.add(`primary host ${primary.host}: ${access.binDir} holds ${v.stdout.trim()}, the server runs ${result.primaryVersion}`);
  }
  const d = await c.exec(`test -f ${shq(path.posix.join(primary.dataDir, 'PG_VERSION'))}`, { allowFailure: true });
  if (d.code !== 0) problems.add(`primary.dataDir ${primary.dataDir} on ${primary.host} is not a PostgreSQL data directory readable by ${primary.ssh.user}`);
}

/** The standby's host: same major version, an empty (or absent) target, room for a copy, a replication login. */
async function checkStandbyHost(c: SshConnection, f: Findings, replicationPassword: string | undefined): Promise<void> {
  const { input, result, problems } = f;
  const { access, standby } = input;
  const v = await c.exec(`${bin(access, 'postgres')} --version && test -x ${bin(access, 'pg_basebackup')} && test -x ${bin(access, 'pg_ctl')}`, {
    allowFailure: true,
  });
  // A retried base backup waits out the previous attempt under flock (util-linux, Essential on Debian).
  if ((await c.exec('command -v flock', { allowFailure: true })).code !== 0) problems.add(`standby host ${standby.host}: flock (util-linux) is not installed`);
  if (v.code !== 0) problems.add(`standby host ${standby.host}: PostgreSQL tools (postgres, pg_basebackup, pg_ctl) not found in ${access.binDir}`);
  else {
    result.standbyBinVersion = v.stdout.trim();
    if (f.primaryMajor !== null && majorVersion(v.stdout) !== f.primaryMajor) {
      problems.add(`standby host ${standby.host} has ${result.standbyBinVersion}, the primary runs ${result.primaryVersion}: major versions must match`);
    }
  }
  const probe = await probeTarget(
    c,
    standby.dataDir,
    `if [ -f "$p/postmaster.pid" ] && kill -0 "$(head -1 "$p/postmaster.pid")" 2>/dev/null; then echo running; fi; ` +
      `for f in ${shq(standby.passfile)} ${shq(standby.triggerFile)} ${shq(standby.logFile)}; do [ -w "$(dirname "$f")" ] || echo "cannot-write $f"; done; `,
  );
  if (probe.state === 'not-a-directory') problems.add(`standby.dataDir ${standby.dataDir} on ${standby.host} exists and is not a directory`);
  else result.targetState = probe.state;
  if (probe.notes.includes('running')) problems.add(`standby.dataDir ${standby.dataDir} on ${standby.host}: a PostgreSQL server is running in it`);
  else if (probe.state === 'non-empty' && !standby.overwrite) {
    problems.add(`standby.dataDir ${standby.dataDir} on ${standby.host} is not empty: cutover never overwrites it unless the plan sets standby.overwrite: true`);
  }
  if (!probe.writable) problems.add(`standby.dataDir ${standby.dataDir} on ${standby.host} is not writable by ${standby.ssh.user}`);
  for (const l of probe.notes.filter((x) => x.startsWith('cannot-write '))) {
    problems.add(`standby host ${standby.host}: ${standby.ssh.user} cannot write ${l.slice('cannot-write '.length)}`);
  }
  result.standbyFreeBytes = probe.freeBytes;
  // A base backup copies the data directory only: with the primary's config outside it (Debian), the standby
  // starts with a config of its own host, which must already be there (pg_createcluster makes it).
  if (result.primaryConfigFile && !isInside(result.primaryConfigFile, input.primary.dataDir)) {
    const conf = await findConfig(c, standby.dataDir);
    if (conf?.separate) result.standbyConfigFile = conf.configFile;
    else if (!conf) {
      problems.add(
        `standby host ${standby.host}: the primary's configuration is outside its data directory (${result.primaryConfigFile}) and there is no ` +
          `postgresql.conf for ${standby.dataDir} under ${DEBIAN_CONFIG_ROOT}/*/* (data_directory = ${standby.dataDir}): create the cluster's ` +
          'configuration first (Debian: pg_createcluster; its data directory is then replaced, with standby.overwrite: true)',
      );
    }
  }
  if (replicationPassword !== undefined) await checkReplicationLogin(c, f, replicationPassword);
}

/** The real test of pg_hba.conf and the replication password: log in from the standby's host. */
async function checkReplicationLogin(c: SshConnection, f: Findings, password: string): Promise<void> {
  const { input, result, problems } = f;
  const { access, primary, standby } = input;
  const info = conninfo({
    host: primary.address,
    port: primary.port,
    user: access.replication.user,
    dbname: 'replication',
    replication: 'true',
    connect_timeout: 5,
    application_name: 'cutover_preflight',
  });
  // As the standby will connect: TLS checked against the plan's CA, here a private temporary copy removed after.
  const s = access.tls ?? DEFAULT_PG_SECURITY;
  const pem = await caPem(access);
  const tlsEnv = s.tlsMode === 'verify-full' ? 'PGSSLMODE=verify-full PGSSLROOTCERT="$ca"' : `PGSSLMODE=${s.tlsMode}`;
  const r = await c.exec(
    `IFS= read -r PGPASSWORD; export PGPASSWORD; ca=$(mktemp) || exit 1; trap 'rm -f "$ca"' EXIT; cat > "$ca"; ` +
      `${tlsEnv} ${bin(access, 'psql')} -X -tA -c IDENTIFY_SYSTEM ${shq(info)}`,
    { allowFailure: true, stdin: `${password}\n${pem ?? ''}` },
  );
  if (r.code !== 0) {
    const why = r.stderr.trim().split('\n').filter(Boolean).slice(-2).join(' ');
    problems.add(
      `replication login from standby host ${standby.host} as ${access.replication.user} to ${primary.address}:${primary.port} failed ` +
        `(check ${result.primaryHbaFile ?? 'pg_hba.conf'} and postgres.replication): ${why}`,
    );
  } else if (result.systemIdentifier && !r.stdout.startsWith(result.systemIdentifier)) {
    problems.add(`replication login from ${standby.host} reached a different cluster than the primary (system identifier ${r.stdout.split('|')[0]})`);
  }
}

function isInside(file: string, dir: string): boolean {
  return file.startsWith(`${dir.replace(/\/+$/, '')}/`);
}

function somethingListens(host: string, port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.connect({ host, port, timeout: 1000 });
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
    s.once('timeout', () => (s.destroy(), resolve(false)));
  });
}

/** The name traffic follows points at the primary, and at nothing else. */
async function checkDns(f: Findings): Promise<void> {
  const { input, result, problems } = f;
  result.dnsAddresses = await lookupA(input.dns);
  if (result.dnsAddresses.length === 0) problems.add(`traffic.dns: ${input.dns.name} has no A record at ${input.dns.server}:${input.dns.port}`);
  else if (!(result.dnsAddresses.length === 1 && result.dnsAddresses[0] === input.primary.address)) {
    problems.add(`traffic.dns: ${input.dns.name} resolves to ${result.dnsAddresses.join(', ')}, the primary is ${input.primary.address}`);
  }
}
