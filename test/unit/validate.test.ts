// The worker's own check of activity inputs: what a run started around the plan schema could inject.
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { assertSafeInput, inputProblem } from '../../activities/remote/validate';

const host = { name: 'dc1', address: '127.0.1.1', port: 2222, user: 'cutover', identity: { secret: 'ssh' }, knownHostsFile: '/etc/cutover/kh' };

describe('activity input validation', () => {
  it('accepts what a plan produces', () => {
    expect(inputProblem({ source: { host, path: '/srv/assets' }, target: { host, path: '/srv/copy/' }, exclude: ['*.tmp'] })).toBeNull();
    expect(inputProblem({ dns: { server: '127.0.3.1', port: 53, zone: 'sandbox.internal', name: 'a.sandbox.internal', ttl: 5, tsigKey: { secret: 'tsig' } }, from: '127.0.1.1', to: '127.0.2.1' })).toBeNull();
    expect(inputProblem({ access: { superuser: { user: 'postgres', password: { secret: 'pg-superuser' } }, replication: { user: 'r', password: { secret: 'pg.repl_1' } } } })).toBeNull();
  });

  it('refuses SSH users and addresses that ssh would read as options, naming the field', () => {
    expect(inputProblem({ source: { host: { ...host, user: '-oProxyCommand=touch /tmp/x' }, path: '/a/b' } })).toMatch(/^input\.source\.host\.user: expected a plain user name/);
    expect(inputProblem({ hosts: [{ ...host, address: '-oProxyCommand=x' }] })).toMatch(/^input\.hosts\[0\]\.address: expected an IPv4 address/);
    expect(inputProblem({ host: { ...host, port: '22 -oX' } })).toMatch(/^input\.host\.port/);
  });

  it('refuses relative or unnormalised paths and control characters', () => {
    expect(inputProblem({ target: { host, path: 'srv/a' } })).toMatch(/^input\.target\.path: expected an absolute path/);
    expect(inputProblem({ target: { host, path: '/srv/a/../../etc' } })).toMatch(/normalised/);
    expect(inputProblem({ standby: { dataDir: '/srv//pg' } })).toMatch(/^input\.standby\.dataDir: expected a normalised path/);
    expect(inputProblem({ standby: { logFile: '/srv/pg.log\nrm -rf /' } })).toMatch(/control characters/);
  });

  it('refuses secrets located instead of named, and names that are paths', () => {
    expect(inputProblem({ password: { file: '/root/.config/gcloud/application_default_credentials.json' } })).toMatch(/^input\.password: secrets are named in the worker's store now: expected \{ secret: NAME \}/);
    expect(inputProblem({ password: { env: 'TEMPORAL_API_KEY' } })).toMatch(/^input\.password: secrets are named/);
    expect(inputProblem({ password: { secret: '../../etc/shadow' } })).toMatch(/^input\.password\.secret: expected a secret name/);
    expect(inputProblem({ password: { secret: 'Upper' } })).toMatch(/^input\.password\.secret: expected a secret name/);
    expect(inputProblem({ host: { name: 'dc1', address: '127.0.1.1', port: 22, user: 'u', identityFile: '/root/.ssh/id_ed25519', knownHostsFile: '/s/kh' } })).toMatch(
      /^input\.host\.identityFile: no longer accepted: write identity: \{ secret: NAME \}/,
    );
    expect(inputProblem({ dns: { server: '127.0.3.1', port: 53, zone: 'z', name: 'a.z', ttl: 5, tsigKeyFile: '/k' } })).toMatch(/^input\.dns\.tsigKeyFile: no longer accepted/);
  });

  it('refuses DNS fields that would add lines to an nsupdate script', () => {
    const dns = { server: '127.0.3.1', port: 53, zone: 'sandbox.internal', name: 'a.sandbox.internal', ttl: 5, tsigKey: { secret: 'tsig' } };
    expect(inputProblem({ dns: { ...dns, name: 'a.sandbox.internal\nupdate delete x' } })).toMatch(/^input\.dns\.name/);
    expect(inputProblem({ dns, from: '127.0.1.1', to: '1.2.3.4\nsend' })).toMatch(/^input\.to/);
  });

  it('throws a non-retryable InvalidPlan failure', () => {
    let err: unknown;
    try {
      assertSafeInput('rsyncPass', [{ source: { host: { ...host, user: '-oProxyCommand=x' }, path: '/a/b' } }]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect((err as ApplicationFailure).type).toBe('InvalidPlan');
    expect((err as ApplicationFailure).nonRetryable).toBe(true);
    expect((err as ApplicationFailure).message).toMatch(/rsyncPass: .*input\.source\.host\.user/);
  });
});
