// The worker's own check of activity inputs: what a run started around the plan schema could inject.
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { assertSafeInput, inputProblem } from '../../activities/remote/validate';

const host = { name: 'dc1', address: '127.0.1.1', port: 2222, user: 'cutover', identityFile: '/etc/cutover/id', knownHostsFile: '/etc/cutover/kh' };

describe('activity input validation', () => {
  it('accepts what a plan produces', () => {
    expect(inputProblem({ source: { host, path: '/srv/assets' }, target: { host, path: '/srv/copy/' }, exclude: ['*.tmp'] })).toBeNull();
    expect(inputProblem({ dns: { server: '127.0.3.1', port: 53, zone: 'sandbox.internal', name: 'a.sandbox.internal', ttl: 5, tsigKeyFile: '/k/t' }, from: '127.0.1.1', to: '127.0.2.1' })).toBeNull();
    expect(inputProblem({ access: { superuser: { user: 'postgres', password: { file: '/s/pw' } }, replication: { user: 'r', password: { env: 'X' } } } })).toBeNull();
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
    expect(inputProblem({ password: { file: 'relative/pw' } })).toMatch(/^input\.password\.file/);
  });

  it('refuses DNS fields that would add lines to an nsupdate script', () => {
    const dns = { server: '127.0.3.1', port: 53, zone: 'sandbox.internal', name: 'a.sandbox.internal', ttl: 5, tsigKeyFile: '/k/t' };
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
