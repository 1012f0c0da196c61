// Plans for the built-in sandbox, generated from its endpoints (paths depend on where the state dir is).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import type { SandboxEndpoints } from '../sandbox/endpoints';

export interface SandboxFileSyncOptions {
  name: string;
  sourceDir: string;
  targetDir: string;
  /** DNS name switched by the move, inside the sandbox zone. */
  dnsName: string;
  approvers?: string[];
  /** Flag file the live writer watches: the freeze hook creates it and waits for the writer's ack. */
  freezeFlag?: string;
  thresholdBytes?: number;
  bandwidthLimitKBps?: number;
  gateTimeout?: string;
  onTimeout?: 'rollback' | 'wait';
}

/** A sandbox host as a plan's `hosts` entry. */
function sandboxHost(h: SandboxEndpoints['hosts']['dc1']) {
  return { address: h.address, port: h.sshPort, user: h.user, identityFile: h.identityFile, knownHostsFile: h.knownHostsFile };
}

export function sandboxFileSyncPlan(sb: SandboxEndpoints, o: SandboxFileSyncOptions): Record<string, unknown> {
  const hooks = o.freezeFlag
    ? {
        // Stop writers: raise the flag, then wait until the writer acknowledges it has stopped.
        freeze: {
          host: 'dc1',
          command: `touch ${o.freezeFlag} && for i in $(seq 100); do [ -e ${o.freezeFlag}.ack ] && exit 0; sleep 0.1; done; echo 'writer did not stop' >&2; exit 1`,
        },
        unfreeze: { host: 'dc1', command: `rm -f ${o.freezeFlag} ${o.freezeFlag}.ack` },
      }
    : undefined;
  return {
    kind: 'file-sync',
    name: o.name,
    hosts: { dc1: sandboxHost(sb.hosts.dc1), dc2: sandboxHost(sb.hosts.dc2) },
    source: { host: 'dc1', path: o.sourceDir },
    target: { host: 'dc2', path: o.targetDir, removeOnRollback: true },
    options: {
      exclude: ['*.tmp', '.cache/'],
      catchUp: { threshold: o.thresholdBytes ?? 256 * 1024, maxPasses: 10, pauseBetweenPasses: '1s' },
      bandwidthLimitKBps: o.bandwidthLimitKBps ?? 0,
    },
    ...(hooks ? { hooks } : {}),
    approval: { approvers: o.approvers ?? ['alice', 'bob'], requireSecondPerson: true },
    gates: { cutover: { ...(o.gateTimeout ? { timeout: o.gateTimeout } : {}), onTimeout: o.onTimeout ?? 'wait' } },
    traffic: {
      dns: {
        server: sb.dns.server,
        port: sb.dns.port,
        zone: sb.dns.zone,
        tsigKeyFile: sb.dns.tsigKeyFile,
        name: o.dnsName,
        ttl: 1,
        from: sb.hosts.dc1.address,
        to: sb.hosts.dc2.address,
      },
    },
    artifacts: { bucket: sb.gcs.bucket, prefix: 'reports' },
  };
}

export function writePlan(file: string, plan: Record<string, unknown>): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `# generated for the cutover sandbox\n${stringify(plan)}`);
  return file;
}

export interface SandboxPostgresFailoverOptions {
  name: string;
  /** DNS name the move switches (pg.sandbox.internal for the demo; tests make their own). */
  dnsName: string;
  /** Defaults: the sandbox's primary (dc1/pg, port 5432) and its standby target (dc2/pg). */
  port?: number;
  primaryDataDir?: string;
  standbyDataDir?: string;
  primaryLogFile?: string;
  standbyLogFile?: string;
  superuserPasswordFile?: string;
  approvers?: string[];
  maxLag?: string | number;
  stableFor?: string;
  catchUpTimeout?: string;
  onCatchUpTimeout?: 'rollback' | 'wait';
  soak?: string;
  gateTimeout?: string;
  onTimeout?: 'rollback' | 'wait';
  promote?: 'trigger-file' | 'pg_promote';
  maxRate?: string | number;
  overwrite?: boolean;
  synchronousCommit?: 'on' | 'remote_write' | 'remote_apply';
  /** On the standby; PostgreSQL's default is 5s. */
  walRetrieveRetryInterval?: string;
}

export function sandboxPostgresFailoverPlan(sb: SandboxEndpoints, o: SandboxPostgresFailoverOptions): Record<string, unknown> {
  const pg = sb.postgres;
  const port = o.port ?? pg.primary.port;
  return {
    kind: 'postgres-failover',
    name: o.name,
    hosts: { dc1: sandboxHost(sb.hosts.dc1), dc2: sandboxHost(sb.hosts.dc2) },
    postgres: {
      binDir: pg.binDir,
      database: pg.primary.database,
      superuser: { user: pg.primary.superuser, passwordFile: o.superuserPasswordFile ?? pg.primary.superuserPasswordFile },
      replication: { user: pg.replication.user, passwordFile: pg.replication.passwordFile },
    },
    // postgresql.conf includes '../postgres-host.conf' (listen address, socket dir of each host), so a copy in
    // dc2 needs no extra settings; port and listen_addresses are written for the standby from the plan.
    primary: {
      host: 'dc1',
      address: pg.primary.host,
      port,
      dataDir: o.primaryDataDir ?? pg.primary.dataDir,
      logFile: o.primaryLogFile ?? path.join(sb.stateDir, 'logs', 'postgres-dc1.log'),
    },
    standby: {
      host: 'dc2',
      address: pg.standby.host,
      port,
      dataDir: o.standbyDataDir ?? pg.standby.dataDir,
      logFile: o.standbyLogFile ?? path.join(sb.stateDir, 'logs', 'postgres-dc2.log'),
      overwrite: o.overwrite ?? false,
      removeOnRollback: true,
    },
    options: {
      baseBackup: { maxRate: o.maxRate ?? 0 },
      catchUp: {
        maxLag: o.maxLag ?? '1MiB',
        stableFor: o.stableFor ?? '3s',
        timeout: o.catchUpTimeout ?? '5m',
        onTimeout: o.onCatchUpTimeout ?? 'rollback',
        window: '2s',
      },
      synchronousCommit: o.synchronousCommit ?? 'on',
      promote: o.promote ?? 'trigger-file',
      walRetrieveRetryInterval: o.walRetrieveRetryInterval ?? '100ms',
      soak: o.soak ?? '10s',
    },
    approval: { approvers: o.approvers ?? ['alice', 'bob'], requireSecondPerson: true },
    gates: {
      cutover: { ...(o.gateTimeout ? { timeout: o.gateTimeout } : {}), onTimeout: o.onTimeout ?? 'wait' },
      complete: { onTimeout: 'wait' },
    },
    traffic: { dns: { server: sb.dns.server, port: sb.dns.port, zone: sb.dns.zone, tsigKeyFile: sb.dns.tsigKeyFile, name: o.dnsName, ttl: 1 } },
    artifacts: { bucket: sb.gcs.bucket, prefix: 'reports' },
  };
}
