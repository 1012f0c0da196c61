import { describe, expect, it } from 'vitest';
import { parsePlan } from '../../scripts/plans/load';
import { redisMoveInput, type RedisMovePlan } from '../../scripts/plans/redis-move';
import { APPROVERS, planProblems } from '../helpers/plans';

const valid = `
kind: redis-move
name: jobs-redis
mode: dump
hosts:
  dc1: { address: 127.0.1.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
  dc2: { address: 127.0.2.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
source: { host: dc1, address: 127.0.1.1, password: { secret: redis-source } }
target:
  host: dc2
  address: 127.0.2.1
  password: { secret: redis-target }
  service: { systemdUnit: redis-server }
jobs:
  host: dc1
  pause: /srv/app/bin/jobs pause --wait
  resume: /srv/app/bin/jobs resume
  timeout: 90s
options:
  writePause: { max: 5m }
  compare: { maxDifferences: 10 }
approval: { ${APPROVERS} }
gates:
  pause: { timeout: 1h, onTimeout: rollback }
  complete: {}
traffic:
  dns: { server: 127.0.3.1, port: 5053, zone: sandbox.internal, tsigKey: { secret: tsig }, name: redis.sandbox.internal, ttl: 1 }
artifacts: { bucket: cutover-artifacts }
`;

const problems = (text: string): string[] => planProblems(text, 'redis.yaml');

describe('redis-move plan', () => {
  it('becomes plain workflow input: units resolved, defaults filled, passwords only as references, systemd as commands', () => {
    const input = redisMoveInput(parsePlan(valid, 'redis.yaml') as RedisMovePlan, 'carol');
    expect(input.source).toEqual({ host: 'dc1', address: '127.0.1.1', port: 6379, password: { secret: 'redis-source' } });
    expect(input.target).toEqual({
      host: 'dc2', address: '127.0.2.1', port: 6379, password: { secret: 'redis-target' }, overwrite: false,
      service: { start: 'systemctl start -- redis-server', stop: 'systemctl stop -- redis-server' }, loadTimeoutMs: 600_000,
    });
    expect(input.jobs).toEqual({
      pause: { host: 'dc1', command: '/srv/app/bin/jobs pause --wait' },
      resume: { host: 'dc1', command: '/srv/app/bin/jobs resume' },
      timeoutMs: 90_000,
    });
    expect(input.writePauseMaxMs).toBe(300_000);
    expect(input.replicate).toEqual({ maxLagBytes: 1024 * 1024, timeoutMs: 30 * 60_000, onTimeout: 'rollback' });
    expect(input.compare).toEqual({ connections: 4, maxDifferences: 10, ttlToleranceMs: 2000, readAheadTimeoutMs: 600_000 });
    expect(input.archive).toEqual({ bucket: 'cutover-artifacts', prefix: 'dumps' });
    expect(input.gates).toEqual({ pause: { timeoutMs: 3_600_000, onTimeout: 'rollback' }, cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } });
    expect(JSON.stringify(input)).not.toMatch(/hunter2/);
  });

  it('refuses a password in the plan, unknown hosts, one server twice, another port, and a dump without a way to restart the target', () => {
    const bad = valid
      .replace('source: { host: dc1, address: 127.0.1.1, password: { secret: redis-source } }', 'source: { host: dc3, address: 127.0.2.1, password: hunter2, passwordEnv: REDIS_PW }')
      .replace('  service: { systemdUnit: redis-server }\n', '')
      .replace('  host: dc2\n  address: 127.0.2.1\n', '  host: dc2\n  address: 127.0.2.1\n  port: 6380\n')
      .replace('  host: dc1\n  pause', '  host: dc9\n  pause');
    expect(problems(bad)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^source\.password: expected \{ secret: NAME \}.*never the secret itself$/),
        expect.stringMatching(/^source\.passwordEnv: no longer accepted: write password: \{ secret: NAME \} and allow the variable in the worker's CUTOVER_SECRET_ENV/),
        'source.host: unknown host "dc3": hosts are dc1, dc2',
        'jobs.host: unknown host "dc9": hosts are dc1, dc2',
        'target.port: source and target must use the same port: clients only follow the DNS name',
        'target.service: dump mode stops and starts the target: give its systemdUnit, or start and stop commands',
      ]),
    );
    expect(problems(valid.replace('address: 127.0.2.1\n  password:', 'address: 127.0.1.1\n  password:'))).toContain('target.address: the target must be another server than the source');
  });

  it('refuses what would mean "never" or make no sense: zero lag, a pause gate in replicate mode, an archive without a bucket, a secret name that is a path', () => {
    const bad = valid
      .replace('mode: dump', 'mode: replicate')
      .replace('  writePause: { max: 5m }', '  writePause: { max: 0s }\n  replicate: { maxLag: 0 }')
      .replace('password: { secret: redis-target }', 'password: { secret: ../../etc/shadow }')
      .replace('  pause: /srv/app/bin/jobs pause --wait', '  pause: "jobs pause\\nrm -rf /"');
    expect(problems(bad)).toEqual(
      expect.arrayContaining([
        'options.writePause.max: expected a duration above zero',
        'options.replicate.maxLag: expected a lag above zero: a live source is never exactly caught up',
        'gates.pause: replicate mode asks at the cutover gate before pausing anything: a pause gate is for dump mode',
        'target.password: expected a secret name (a-z, 0-9, . _ -, starting with a letter or digit, no path separators), got "../../etc/shadow"',
        'jobs.pause: control characters (newlines, escapes) are not allowed',
      ]),
    );
    expect(problems(valid.replace('artifacts: { bucket: cutover-artifacts }\n', ''))).toContain(
      'options.archive: archiving the dump needs the artifacts bucket (artifacts.bucket), or set archive: false',
    );
  });

  it('replicate mode needs no way to restart the target and archives nothing', () => {
    const plan = parsePlan(valid.replace('mode: dump', 'mode: replicate').replace('  service: { systemdUnit: redis-server }\n', '').replace('  pause: { timeout: 1h, onTimeout: rollback }\n', ''), 'r.yaml') as RedisMovePlan;
    const input = redisMoveInput(plan, 'carol');
    expect(input.mode).toBe('replicate');
    expect(input.target.service).toBeUndefined();
    expect(input.archive).toBeUndefined();
  });
});
