// The move registry: every move has every part (plan schema, reference checks, plan → input of a workflow that
// exists, sample plan, dry-run description, benchmark, demo step) and its files in one place per layer; the
// workflow tests' fake activities cover every activity the move's workflow calls.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActivities } from '../../activities';
import * as workflows from '../../workflows';
import { moves } from '../../scripts/moves';
import type { MoveDefinition } from '../../scripts/moves/move';
import { parsePlan } from '../../scripts/plans/load';
import type { SandboxEndpoints } from '../../scripts/sandbox/endpoints';

const root = path.resolve(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

/** A sandbox as sandbox.json describes one; nothing here is dialled. */
const host = (name: 'dc1' | 'dc2', address: string) => ({ name, address, sshPort: 2222, user: 'cutover', identityFile: '/s/id', knownHostsFile: '/s/kh' });
const sb: SandboxEndpoints = {
  stateDir: '/s',
  temporal: { address: '127.0.0.1:7233', namespace: 'default', uiUrl: 'http://127.0.0.1:8233', dbFile: '/s/t.db' },
  hosts: { dc1: host('dc1', '127.0.1.1'), dc2: host('dc2', '127.0.2.1') },
  files: { sourceDir: '/s/dc1/assets', targetDir: '/s/dc2/assets' },
  postgres: {
    binDir: '/usr/lib/postgresql/15/bin',
    primary: { host: '127.0.1.1', port: 5432, dataDir: '/s/dc1/pg', superuser: 'postgres', superuserPasswordFile: '/s/pw', database: 'app' },
    replication: { user: 'replicator', passwordFile: '/s/rpw' },
    standby: { host: '127.0.2.1', port: 5432, dataDir: '/s/dc2/pg' },
  },
  redis: { source: { host: '127.0.1.1', port: 6379, dir: '/s/dc1/redis' }, target: { host: '127.0.2.1', port: 6379, dir: '/s/dc2/redis' } },
  gcs: { endpoint: 'http://127.0.0.1:4443', projectId: 'p', bucket: 'cutover-artifacts' },
  dns: { server: '127.0.3.1', port: 5053, zone: 'sandbox.internal', tsigKeyFile: '/s/tsig.key', records: {} },
};

const activityNames = Object.keys(createActivities());

describe.each((moves as readonly MoveDefinition[]).map((m) => [m.kind, m] as const))('move %s', (kind, move) => {
  it('has its files in one place per layer', () => {
    for (const file of [
      `workflows/${kind}.ts`,
      `scripts/moves/${kind}.ts`,
      `scripts/plans/${kind}.ts`,
      `scripts/bench/${kind}.ts`,
      `scripts/demo/${kind}.ts`,
      `test/workflows/${kind}.test.ts`,
      `test/e2e/${kind}.test.ts`,
      `test/unit/${kind}-plan.test.ts`,
      `activities/${move.system}/index.ts`,
    ]) {
      expect(existsSync(path.join(root, file)), `${kind}: ${file} is missing`).toBe(true);
    }
  });

  it('turns its sample plan into the input of a workflow that exists', () => {
    const sample = move.samplePlan(sb, 'registry-test');
    expect(sample.kind).toBe(kind);
    const plan = parsePlan(JSON.stringify(sample), `${kind}.json`);
    expect(plan.kind).toBe(kind);
    expect(move.referenceProblems(sample)).toEqual([]);
    const input = move.toInput(plan, 'alice') as { name: string; startedBy: string };
    expect(input).toMatchObject({ name: 'registry-test', startedBy: 'alice' });
    expect(typeof (workflows as Record<string, unknown>)[move.workflowType]).toBe('function');
  });

  it('has a summary, a benchmark and a demo step', async () => {
    expect(move.summary.length).toBeGreaterThan(10);
    const bench = await move.bench();
    expect(bench.summary.length).toBeGreaterThan(10);
    expect(typeof bench.run).toBe('function');
    expect(move.demo.title.length).toBeGreaterThan(5);
    expect(typeof (await move.demo.run())).toBe('function');
    expect(existsSync(path.join(root, 'scripts', 'bench', 'results', `${kind}.json`)), `${kind}: no benchmark result recorded`).toBe(true);
  });

  it('is tested with fake activities for every activity its workflow calls', () => {
    const workflow = read(`workflows/${kind}.ts`);
    const called = activityNames.filter((a) => new RegExp(`\\.${a}\\(`).test(workflow));
    expect(called.length).toBeGreaterThan(0);
    // The workflow tests and the helpers they import (fakes may live in test/helpers).
    const testFile = read(`test/workflows/${kind}.test.ts`);
    const helpers = [...testFile.matchAll(/from '\.\.\/helpers\/([\w-]+)'/g)].map((m) => read(`test/helpers/${m[1]}.ts`));
    const tests = [testFile, ...helpers].join('\n');
    const faked = activityNames.filter((a) => new RegExp(`\\b${a}\\s*(\\(|:)`).test(tests));
    expect(called.filter((a) => !faked.includes(a)), `${kind}: activities its workflow calls that the workflow tests do not fake`).toEqual([]);
  });
});

describe('the registry', () => {
  it('has one move per kind and one workflow per move', () => {
    const kinds = moves.map((m) => m.kind);
    expect(new Set(kinds).size).toBe(kinds.length);
    const types = moves.map((m) => m.workflowType);
    expect(new Set(types).size).toBe(types.length);
  });

  it('lists every workflow the worker runs', () => {
    const exported = Object.keys(workflows).filter((k) => typeof (workflows as Record<string, unknown>)[k] === 'function');
    expect(exported.sort()).toEqual(moves.map((m) => m.workflowType as string).sort());
  });
});
