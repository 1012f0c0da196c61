import { describe, expect, it } from 'vitest';
import { moveKinds } from '../../scripts/moves';
import { parsePlan } from '../../scripts/plans/load';
import { fileSyncInput } from '../../scripts/plans/file-sync';
import { parseDuration, parseSize } from '../../scripts/plans/units';
import { APPROVERS, ALICE_KEY, BOB_KEY, planProblems } from '../helpers/plans';

const valid = `
kind: file-sync
name: assets
hosts:
  dc1: { address: 127.0.1.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
  dc2: { address: 127.0.2.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
source: { host: dc1, path: /srv/assets }
target: { host: dc2, path: /srv/assets, removeOnRollback: true }
options:
  exclude: ['*.tmp']
  catchUp: { threshold: 1MiB, maxPasses: 5, pauseBetweenPasses: 2s }
hooks:
  freeze: { host: dc1, command: touch /srv/maintenance }
  unfreeze: { host: dc1, command: rm -f /srv/maintenance }
approval: { ${APPROVERS} }
gates:
  cutover: { timeout: 30m, onTimeout: rollback }
traffic:
  dns: { server: 127.0.3.1, port: 5053, zone: sandbox.internal, tsigKey: { secret: tsig }, name: assets.sandbox.internal, ttl: 1, from: 127.0.1.1, to: 127.0.2.1 }
`;

const problems = planProblems;

describe('file-sync plan', () => {
  it('turns a valid plan into plain workflow input with units resolved', () => {
    const plan = parsePlan(valid, 'plan.yaml');
    const input = fileSyncInput(plan as never, 'carol');
    expect(input.catchUp).toEqual({ thresholdBytes: 1024 * 1024, maxPasses: 5, pauseBetweenPassesMs: 2000 });
    expect(input.gates.cutover).toEqual({ timeoutMs: 30 * 60_000, onTimeout: 'rollback' });
    expect(input.hosts.dc2).toMatchObject({ name: 'dc2', address: '127.0.2.1', port: 2222 });
    expect(input.approval).toEqual({
      approvers: ['alice', 'bob'],
      signers: [{ name: 'alice', key: ALICE_KEY }, { name: 'bob', key: BOB_KEY }],
      requireSecondPerson: true,
    });
    expect(input.startedBy).toBe('carol');
  });

  it('needs a freeze hook, or the freeze waived with a reason; holding writers needs an unfreeze hook', () => {
    const noHooks = valid.replace(/hooks:\n.*\n.*\n/, '');
    expect(problems(noHooks)).toEqual([expect.stringMatching(/^hooks: expected hooks\.freeze .*or freeze: \{ waived: REASON \}/)]);
    const waived = valid.replace('freeze: { host: dc1, command: touch /srv/maintenance }', 'freeze: { waived: "nightly export, nothing else writes" }');
    const input = fileSyncInput(parsePlan(waived, 'plan.yaml') as never, 'carol');
    expect(input.hooks).toEqual({ freezeWaived: 'nightly export, nothing else writes', unfreeze: { host: 'dc1', command: 'rm -f /srv/maintenance' } });
    expect(input.holdWritersForTtl).toBe(false);
    expect(problems(valid.replace('freeze: { host: dc1, command: touch /srv/maintenance }', 'freeze: { waived: "yes" }'))).toEqual([
      expect.stringMatching(/^hooks\.freeze/),
    ]);
    const hold = valid.replace('pauseBetweenPasses: 2s }', 'pauseBetweenPasses: 2s }\n  holdWritersForTtl: true');
    expect(fileSyncInput(parsePlan(hold, 'plan.yaml') as never, 'carol').holdWritersForTtl).toBe(true);
    expect(problems(hold.replace(/  unfreeze: .*\n/, ''))).toEqual(['options.holdWritersForTtl: holding writers needs hooks.unfreeze: without it nothing starts them again']);
  });

  it('names the path and what was expected for every problem', () => {
    const bad = valid
      .replace('source: { host: dc1,', 'source: { host: dc9,')
      .replace('threshold: 1MiB', 'threshold: lots')
      .replace('path: /srv/assets, removeOnRollback', 'path: srv/assets, removeOnRollback')
      .replace('port: 5053', 'port: 5053, password: hunter2');
    expect(problems(bad)).toEqual(
      expect.arrayContaining([
        'source.host: unknown host "dc9": hosts are dc1, dc2',
        'options.catchUp.threshold: expected a size such as 1048576, "512KiB" or "1MiB", got "lots"',
        'target.path: expected an absolute path',
        'traffic.dns: unknown field(s) "password"',
      ]),
    );
  });

  it('refuses an unknown kind and a missing field', () => {
    expect(problems('kind: mongo\nname: x\n')).toEqual([`kind: expected one of ${moveKinds.join(', ')}, got "mongo"`]);
    expect(moveKinds).toEqual(expect.arrayContaining(['file-sync', 'postgres-failover']));
    expect(problems(valid.replace(/approval:.*\n/, ''))).toEqual(['approval: missing: expected object']);
  });

  it('reports YAML syntax errors with the file name', () => {
    expect(problems('kind: [file-sync\n', 'broken.yaml')[0]).toMatch(/^not valid YAML/);
  });
});

describe('units', () => {
  it('parses durations and sizes', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('soon')).toBeNull();
    expect(parseSize('512KiB')).toBe(524_288);
    expect(parseSize('2GB')).toBe(2e9);
    expect(parseSize(-1)).toBeNull();
  });
});
