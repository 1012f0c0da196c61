import { describe, expect, it } from 'vitest';
import { parsePlan } from '../../scripts/plans/load';
import { postgresFailoverInput, type PostgresFailoverPlan } from '../../scripts/plans/postgres-failover';
import { APPROVERS, planProblems } from '../helpers/plans';

const valid = `
kind: postgres-failover
name: orders-db
hosts:
  dc1: { address: 127.0.1.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
  dc2: { address: 127.0.2.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
postgres:
  database: app
  superuser: { user: postgres, password: { secret: pg-superuser } }
  replication: { user: replicator, password: { secret: pg-replication } }
primary: { host: dc1, address: 127.0.1.1, dataDir: /srv/dc1/pg/ }
standby: { host: dc2, address: 127.0.2.1, dataDir: /srv/dc2/pg, settings: { unix_socket_directories: /srv/dc2/run } }
options:
  catchUp: { maxLag: 512KiB, stableFor: 10s, timeout: 20m }
  synchronousCommit: remote_apply
  soak: 5m
approval: { ${APPROVERS} }
gates:
  complete: { timeout: 2h, onTimeout: wait }
traffic:
  dns: { server: 127.0.3.1, port: 5053, zone: sandbox.internal, tsigKey: { secret: tsig }, name: pg.sandbox.internal, ttl: 1 }
`;

const problems = (text: string): string[] => planProblems(text, 'pg.yaml');

describe('postgres-failover plan', () => {
  it('becomes plain workflow input: units resolved, defaults filled, passwords only as references', () => {
    const input = postgresFailoverInput(parsePlan(valid, 'pg.yaml') as PostgresFailoverPlan, 'carol');
    expect(input.access).toEqual({
      binDir: '/usr/lib/postgresql/15/bin',
      database: 'app',
      superuser: { user: 'postgres', password: { secret: 'pg-superuser' } },
      replication: { user: 'replicator', password: { secret: 'pg-replication' } },
      // Secure unless relaxed: TLS verified against the system CAs, SCRAM only.
      tls: { tlsMode: 'verify-full', allowPasswordAuth: false },
    });
    expect(input.primary).toEqual({
      host: 'dc1', address: '127.0.1.1', port: 5432, dataDir: '/srv/dc1/pg', logFile: '/srv/dc1/pg.log',
      passfile: '/srv/dc1/pg.pgpass', triggerFile: '/srv/dc1/pg.promote', settings: {},
    });
    expect(input.standby).toMatchObject({ overwrite: false, removeOnRollback: true, settings: { unix_socket_directories: '/srv/dc2/run' } });
    expect(input.slotName).toBe('cutover_orders_db');
    expect(input.applicationName).toBe('cutover_orders_db');
    expect(input.catchUp).toEqual({ maxLagBytes: 512 * 1024, stableForMs: 10_000, timeoutMs: 20 * 60_000, onTimeout: 'rollback', windowMs: 5000 });
    expect(input.synchronousCommit).toBe('remote_apply');
    expect(input.promote).toBe('trigger-file');
    expect(input.walRetrieveRetryIntervalMs).toBe(100);
    expect(input.soakMs).toBe(5 * 60_000);
    expect(input.gates).toEqual({ cutover: { onTimeout: 'wait' }, complete: { timeoutMs: 2 * 3_600_000, onTimeout: 'wait' } });
    // The way back during the soak: the old primary streams from the new one, asynchronously unless asked.
    expect(input.reverseReplication).toEqual({ synchronous: false, onStandbyLost: 'keep-writing', lostAfterMs: 3000 });
  });

  it('takes TLS as the plan asks: a CA by name, relaxations only when written, no CA without verification', () => {
    const withTls = (tls: string, extra = '') => postgresFailoverInput(parsePlan(valid.replace('  replication: { user: replicator,', `  tls: ${tls}\n${extra}  replication: { user: replicator,`), 'pg.yaml') as PostgresFailoverPlan, 'carol').access.tls;
    expect(withTls('{ ca: { secret: sandbox-ca } }')).toEqual({ tlsMode: 'verify-full', ca: { secret: 'sandbox-ca' }, allowPasswordAuth: false });
    expect(withTls('{ mode: require }', '  allowPasswordAuth: true\n')).toEqual({ tlsMode: 'require', allowPasswordAuth: true });
    expect(problems(valid.replace('  replication: { user: replicator,', '  tls: { mode: disable, ca: { secret: sandbox-ca } }\n  replication: { user: replicator,'))).toEqual(['postgres.tls.ca: ca is used only with mode verify-full']);
    expect(problems(valid.replace('  replication: { user: replicator,', '  tls: { mode: verify-ca, ca: { file: /etc/ssl/ca.pem } }\n  replication: { user: replicator,'))).toEqual([
      expect.stringMatching(/^postgres\.tls\.mode: /),
      expect.stringMatching(/^postgres\.tls\.ca: secrets are named, not located/),
    ]);
  });

  it('takes reverse replication as the plan asks: synchronous with its own loss rule, or none at all', () => {
    const withReverse = (yaml: string) => postgresFailoverInput(parsePlan(valid.replace('  soak: 5m', `  soak: 5m\n  reverseReplication: ${yaml}`), 'pg.yaml') as PostgresFailoverPlan, 'carol');
    expect(withReverse('{ synchronous: true, lostAfter: 1500ms }').reverseReplication).toEqual({ synchronous: true, onStandbyLost: 'keep-writing', lostAfterMs: 1500 });
    expect(withReverse('{ synchronous: true, onStandbyLost: block-writes }').reverseReplication).toEqual({ synchronous: true, onStandbyLost: 'block-writes', lostAfterMs: 3000 });
    expect(withReverse('false').reverseReplication).toBeNull();
    expect(problems(valid.replace('  soak: 5m', '  soak: 5m\n  reverseReplication: { synchronous: yes-please, lostAfter: 0s }'))).toEqual([
      'options.reverseReplication.synchronous: Invalid input: expected boolean, received string',
      'options.reverseReplication.lostAfter: expected a duration above zero',
    ]);
    expect(problems(valid.replace('  soak: 5m', '  soak: 5m\n  reverseReplication: true'))).toEqual([
      'options.reverseReplication: expected false (the old primary stays stopped during the soak) or a mapping { synchronous, onStandbyLost, lostAfter }',
    ]);
  });

  it('refuses a password in the plan, the old located forms, unknown hosts and a port clients could not follow', () => {
    const bad = valid
      .replace('{ user: postgres, password: { secret: pg-superuser } }', '{ user: postgres, password: hunter2 }')
      .replace('password: { secret: pg-replication } }', 'passwordFile: /s/r }')
      .replace('identity: { secret: ssh-worker }', 'identityFile: /s/id')
      .replace('tsigKey: { secret: tsig }', 'tsigKey: { file: /s/tsig.key }')
      .replace('standby: { host: dc2,', 'standby: { host: dc3, port: 6432,')
      .replace('synchronousCommit: remote_apply', 'synchronousCommit: maybe');
    expect(problems(bad)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^postgres\.superuser\.password: expected \{ secret: NAME \}, a name in the worker's secret store .*never the secret itself$/),
        expect.stringMatching(/^postgres\.replication\.passwordFile: no longer accepted: write password: \{ secret: NAME \}/),
        expect.stringMatching(/^hosts\.dc1\.identityFile: no longer accepted: write identity: \{ secret: NAME \}/),
        expect.stringMatching(/^traffic\.dns\.tsigKey: secrets are named, not located: write \{ secret: NAME \}/),
        'standby.host: unknown host "dc3": hosts are dc1, dc2',
        'standby.port: primary and standby must use the same port: clients only follow the DNS name',
        expect.stringMatching(/^options\.synchronousCommit: /),
      ]),
    );
  });
});
