// Plans that could destroy data or inject commands are refused before anything runs, with the field named.
import { describe, expect, it } from 'vitest';
import { approvalProblem, pathProblem, pathsOverlap } from '../../scripts/plans/fields';
import { parsePlan } from '../../scripts/plans/load';
import { APPROVERS, ALICE_KEY, BOB_KEY, planProblems } from '../helpers/plans';

const fileSync = `
kind: file-sync
name: assets
hosts:
  dc1: { address: 127.0.1.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
  dc2: { address: 127.0.2.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
source: { host: dc1, path: /srv/assets }
target: { host: dc2, path: /srv/assets }
hooks: { freeze: { host: dc1, command: systemctl stop asset-writer } }
approval: { ${APPROVERS} }
traffic:
  dns: { server: 127.0.3.1, port: 5053, zone: sandbox.internal, tsigKey: { secret: tsig }, name: assets.sandbox.internal, ttl: 1, from: 127.0.1.1, to: 127.0.2.1 }
`;

const postgres = `
kind: postgres-failover
name: orders-db
hosts:
  dc1: { address: 127.0.1.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
  dc2: { address: 127.0.2.1, port: 2222, user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }
postgres:
  superuser: { user: postgres, password: { secret: pg-superuser } }
  replication: { user: replicator, password: { secret: pg-replicator } }
primary: { host: dc1, address: 127.0.1.1, dataDir: /srv/dc1/pg }
standby: { host: dc2, address: 127.0.2.1, dataDir: /srv/dc2/pg, settings: {} }
approval: { ${APPROVERS} }
traffic:
  dns: { server: 127.0.3.1, port: 5053, zone: sandbox.internal, tsigKey: { secret: tsig }, name: pg.sandbox.internal, ttl: 1 }
`;

const problems = (text: string): string[] => planProblems(text, 'plan.yaml');

/** The one problem a change makes, which must name `field`. */
function refused(text: string, from: string, to: string, field: string, says?: RegExp): void {
  expect(text).toContain(from);
  const found = problems(text.replace(from, to));
  expect(found.some((p) => p.startsWith(`${field}:`)), `expected a problem at ${field}, got:\n${found.join('\n')}`).toBe(true);
  if (says) expect(found.find((p) => p.startsWith(`${field}:`))).toMatch(says);
}

describe('approvers sign with their own keys', () => {
  it('takes allowed_signers lines, with namespaces allowing cutover', () => {
    const plan = parsePlan(fileSync.replace(APPROVERS, `approvers: ['alice namespaces="git,cutover" ${ALICE_KEY}', 'bob ${BOB_KEY} bob@laptop']`), 'plan.yaml');
    expect(plan.approval).toEqual({ approvers: ['alice', 'bob'], signers: [{ name: 'alice', key: ALICE_KEY }, { name: 'bob', key: BOB_KEY }], requireSecondPerson: true });
  });
  it('refuses plain names, clearly, and keys that cannot sign cutover decisions', () => {
    refused(fileSync, APPROVERS, 'approvers: [alice, bob]', 'approval.approvers[0]', /"alice" has no public key: decisions are signed.*allowed_signers line/);
    refused(fileSync, APPROVERS, `approvers: ['alice ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ', 'bob ${BOB_KEY}']`, 'approval.approvers[0]', /only ssh-ed25519/);
    refused(fileSync, APPROVERS, `approvers: ['alice namespaces="git" ${ALICE_KEY}', 'bob ${BOB_KEY}']`, 'approval.approvers[0]', /does not allow "cutover"/);
    refused(fileSync, APPROVERS, `approvers: ['alice cert-authority ${ALICE_KEY}', 'bob ${BOB_KEY}']`, 'approval.approvers[0]', /certificate authorities are not supported/);
    refused(fileSync, APPROVERS, `approvers: ['alice valid-before="20300101" ${ALICE_KEY}', 'bob ${BOB_KEY}']`, 'approval.approvers[0]', /valid-before is not supported/);
    refused(fileSync, APPROVERS, `approvers: ['alice,bob ${ALICE_KEY}', 'bob ${BOB_KEY}']`, 'approval.approvers[0]', /one plain user name/);
    refused(fileSync, APPROVERS, `approvers: ['alice ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDQ', 'bob ${BOB_KEY}']`, 'approval.approvers[0]', /truncated|32 bytes|base64/);
  });
  it('refuses one key under two names: the starter could approve as "someone else"', () => {
    refused(fileSync, APPROVERS, `approvers: ['alice ${ALICE_KEY}', 'al ${ALICE_KEY}']`, 'approval.approvers', /same key/);
  });
});

describe('plans that cannot destroy', () => {
  it('accepts the plain plans', () => {
    expect(parsePlan(fileSync, 'plan.yaml').kind).toBe('file-sync');
    expect(parsePlan(postgres, 'plan.yaml').kind).toBe('postgres-failover');
  });

  it.each([
    ['the same directory with a trailing slash', 'target: { host: dc2, path: /srv/assets }', 'target: { host: dc1, path: /srv/assets/ }'],
    ['the parent of the source', 'source: { host: dc1, path: /srv/assets }\ntarget: { host: dc2, path: /srv/assets }', 'source: { host: dc1, path: /srv/assets/live }\ntarget: { host: dc1, path: /srv/assets }'],
    ['inside the source', 'target: { host: dc2, path: /srv/assets }', 'target: { host: dc1, path: /srv/assets/copy }'],
  ])('refuses a file-sync target that is %s on the same host', (_what, from, to) => {
    refused(fileSync, from, to, 'target.path', /overlaps the source/);
  });

  it('treats two aliases of one address as one host', () => {
    const text = fileSync.replace('dc2: { address: 127.0.2.1', 'dc2: { address: 127.0.1.1').replace('target: { host: dc2, path: /srv/assets }', 'target: { host: dc2, path: /srv/assets/new }');
    expect(problems(text)).toEqual(expect.arrayContaining([expect.stringMatching(/^target\.path: .*overlaps the source/)]));
  });

  it.each([
    ['a .. segment', '/var/..', /"\.\." segments/],
    ['a shallow path', '/srv', /two levels deep/],
    ['a system directory', '/usr/lib', /system directory/],
    ['a relative path', 'srv/assets', /absolute/],
  ])('refuses a target path with %s', (_what, path, says) => {
    refused(fileSync, 'target: { host: dc2, path: /srv/assets }', `target: { host: dc2, path: ${path} }`, 'target.path', says);
  });

  it('refuses excludes that exclude everything', () => {
    refused(fileSync, 'approval:', "options: { exclude: ['*.tmp', '*'] }\napproval:", 'options.exclude[1]', /every file/);
  });

  it('refuses a zero catch-up threshold and a zero gate timeout (they mean "never" and "at once")', () => {
    refused(fileSync, 'approval:', 'options: { catchUp: { threshold: 0 } }\napproval:', 'options.catchUp.threshold');
    refused(fileSync, 'approval:', 'gates: { cutover: { timeout: 0s } }\napproval:', 'gates.cutover.timeout');
    refused(postgres, 'approval:', 'options: { catchUp: { timeout: 0 } }\napproval:', 'options.catchUp.timeout');
    refused(postgres, 'approval:', 'options: { catchUp: { maxLag: 0 } }\napproval:', 'options.catchUp.maxLag');
  });

  it('refuses overlapping data directories on one host', () => {
    refused(postgres, 'standby: { host: dc2, address: 127.0.2.1, dataDir: /srv/dc2/pg', 'standby: { host: dc1, address: 127.0.2.1, dataDir: /srv/dc1/pg/sub', 'standby.dataDir', /overlaps/);
  });
});

describe('plans that cannot inject', () => {
  it('refuses an SSH user or address that ssh would read as an option', () => {
    refused(fileSync, 'user: cutover, identity: { secret: ssh-worker }, knownHostsFile: /s/kh }\n  dc2', 'user: "-oProxyCommand=touch /tmp/x", identity: { secret: ssh-worker }, knownHostsFile: /s/kh }\n  dc2', 'hosts.dc1.user', /plain user name/);
    refused(fileSync, 'dc1: { address: 127.0.1.1', 'dc1: { address: "-oProxyCommand=x"', 'hosts.dc1.address');
  });

  it('refuses DNS values that nsupdate or BIND would refuse, or that add lines to the update', () => {
    refused(fileSync, 'zone: sandbox.internal', 'zone: "sandbox.internal\\nupdate add evil. 1 A 1.2.3.4"', 'traffic.dns.zone');
    refused(fileSync, 'name: assets.sandbox.internal', 'name: assets.sandbox.internal.', 'traffic.dns.name', /trailing dot/);
    refused(fileSync, 'name: assets.sandbox.internal', 'name: assets.elsewhere.internal', 'traffic.dns.name', /not inside zone/);
    refused(fileSync, 'to: 127.0.2.1', 'to: 10.2.0.07', 'traffic.dns.to', /leading zeros/);
    refused(fileSync, 'from: 127.0.1.1', 'from: 256.0.0.1', 'traffic.dns.from');
    refused(fileSync, 'ttl: 1, from', 'ttl: 99999999999, from', 'traffic.dns.ttl');
    refused(postgres, 'ttl: 1 }', 'ttl: -1 }', 'traffic.dns.ttl');
  });

  it.each(['primary_conninfo', 'promote_trigger_file', 'port', 'restore_command', 'archive_command', 'shared_preload_libraries'])(
    'refuses the standby setting %s (cutover owns it, or it runs commands)',
    (name) => {
      refused(postgres, 'settings: {}', `settings: { ${name}: "x" }`, `standby.settings.${name}`, /set by cutover or runs commands/);
    },
  );

  it('refuses control characters in a setting value', () => {
    refused(postgres, 'settings: {}', 'settings: { work_mem: "4MB\\nrestore_command = x" }', 'standby.settings.work_mem', /control characters/);
  });

  it('refuses duplicate approvers, and a starter who is the only one able to approve', () => {
    refused(fileSync, APPROVERS, `approvers: ['alice ${ALICE_KEY}', 'alice ${BOB_KEY}']`, 'approval.approvers', /twice/);
    expect(approvalProblem({ approvers: ['alice'], requireSecondPerson: true }, 'alice')).toMatch(/only approver/);
    expect(approvalProblem({ approvers: ['alice'], requireSecondPerson: false }, 'alice')).toBeNull();
    expect(approvalProblem({ approvers: ['alice', 'bob'], requireSecondPerson: true }, 'alice')).toBeNull();
  });
});

describe('path rules', () => {
  it('normalises before comparing', () => {
    expect(pathsOverlap('/srv/a/', '/srv/a')).toBe(true);
    expect(pathsOverlap('/srv/a', '/srv/ab')).toBe(false);
    expect(pathsOverlap('/srv', '/srv/a/b')).toBe(true);
    expect(pathProblem('/var/lib/postgresql/15/main')).toBeNull();
    expect(pathProblem('/proc/1/root')).toMatch(/pseudo-filesystem/);
    expect(pathProblem('/srv//a')).toMatch(/empty segments/);
  });
});
