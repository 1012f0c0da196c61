import { describe, expect, it } from 'vitest';
import { parsePlan } from '../../scripts/plans/load';
import { hdfsDualWriteInput, hdfsReferenceProblems, type HdfsDualWritePlan } from '../../scripts/plans/hdfs-dual-write';
import { verifyMethod, withoutOthersWrite, writableByOthers } from '../../activities/hdfs';
import { APPROVERS, planProblems } from '../helpers/plans';

const valid = `
kind: hdfs-dual-write
name: warehouse
clusters:
  old: { name: dc1, webhdfs: http://127.0.1.1:9870, fs: hdfs://127.0.1.1:8020, address: 127.0.1.1, user: etl }
  new: { name: dc2, webhdfs: 'http://127.0.2.1:9870/', fs: hdfs://127.0.2.1:8020, address: 127.0.2.1, delegationToken: { secret: dc2-token } }
hosts:
  edge: { address: 127.0.1.1, port: 2222, user: cutover, identity: { secret: ssh-key }, knownHostsFile: /s/kh }
datasets:
  - { name: events, source: { local: /srv/exports/events }, paths: { old: /data/events, new: /data/events } }
  - { name: raw, source: { hdfs: /ingest/raw }, paths: { old: /data/raw, new: /warehouse/raw } }
refresh: { every: 24h, verify: auto }
jobs:
  - name: wordcount
    host: edge
    command: [hadoop, jar, /opt/examples.jar, wordcount, -fs, '{fs}', '{dataset:events}', '{output}']
    compare: sorted-lines
    timeout: 20m
shadow: { outputRoot: /cutover/shadow }
alert: { webhook: { secret: slack-webhook } }
cleanPeriod: { cycles: 7, minimum: 7d }
soak: 2d
approval: { ${APPROVERS} }
traffic:
  dns: { server: 127.0.3.1, port: 5053, zone: sandbox.internal, tsigKey: { secret: tsig }, name: hdfs.sandbox.internal, ttl: 1 }
`;

const problems = (text: string): string[] => planProblems(text, 'hdfs.yaml');

describe('hdfs-dual-write plan', () => {
  it('becomes plain workflow input: durations resolved, defaults filled, the token and the webhook only as references', () => {
    const input = hdfsDualWriteInput(parsePlan(valid, 'hdfs.yaml') as HdfsDualWritePlan, 'carol');
    expect(input.clusters.old).toEqual({ name: 'dc1', url: 'http://127.0.1.1:9870', fs: 'hdfs://127.0.1.1:8020', address: '127.0.1.1', user: 'etl' });
    expect(input.clusters.new).toEqual({ name: 'dc2', url: 'http://127.0.2.1:9870', fs: 'hdfs://127.0.2.1:8020', address: '127.0.2.1', delegationToken: { secret: 'dc2-token' } });
    expect(input.datasets[1]).toEqual({ name: 'raw', source: { hdfs: '/ingest/raw' }, paths: { old: '/data/raw', new: '/warehouse/raw' } });
    expect(input.refresh).toEqual({ everyMs: 86_400_000, verify: 'auto', concurrency: 4 });
    expect(input.jobs).toEqual([
      {
        name: 'wordcount',
        command: ['hadoop', 'jar', '/opt/examples.jar', 'wordcount', '-fs', '{fs}', '{dataset:events}', '{output}'],
        host: { name: 'edge', address: '127.0.1.1', port: 2222, user: 'cutover', identity: { secret: 'ssh-key' }, knownHostsFile: '/s/kh' },
        compare: 'sorted-lines',
        timeoutSeconds: 1200,
      },
    ]);
    expect(input.shadow).toEqual({ outputRoot: '/cutover/shadow', noiseBaseline: true, sampleLines: 5 });
    expect(input.alert).toEqual({ webhook: { secret: 'slack-webhook' } });
    expect(input.clean).toEqual({ cycles: 7, minimumMs: 7 * 86_400_000 });
    expect(input.freeze).toBe(true);
    expect(input.soakMs).toBe(2 * 86_400_000);
    expect(input.gates).toEqual({ cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } });
    expect(input.startedBy).toBe('carol');
  });

  it('names the field of each problem: credentials, clusters, datasets, jobs, clean period, DNS', () => {
    const bad = valid
      .replace('user: etl }', 'user: etl, delegationToken: { secret: token } }')
      .replace('fs: hdfs://127.0.2.1:8020', 'fs: 127.0.2.1:8020')
      .replace("'http://127.0.2.1:9870/'", "'http://127.0.2.1:9870/webhdfs?x=1'")
      .replace('address: 127.0.2.1, delegationToken', 'address: 127.0.1.1, delegationToken')
      .replace('paths: { old: /data/raw, new: /warehouse/raw }', 'paths: { old: /data/events/raw, new: /warehouse/raw }')
      .replace("'{dataset:events}'", "'{dataset:nope}'")
      .replace("'{output}'", "'{outptu}'")
      .replace('host: edge', 'host: gateway')
      .replace('cleanPeriod: { cycles: 7, minimum: 7d }', 'cleanPeriod: {}')
      .replace('name: hdfs.sandbox.internal', 'name: hdfs.elsewhere.internal');
    const p = problems(bad);
    expect(p).toContain('clusters.old: give user or delegationToken, not both');
    expect(p.find((l) => l.startsWith('clusters.new.fs:'))).toMatch(/hdfs:\/\/HOST:PORT/);
    expect(p.find((l) => l.startsWith('clusters.new.webhdfs:'))).toMatch(/no path, query or credentials/);
    expect(p).toContain('clusters.new.address: the DNS name must move to another address: both clusters have the same');
    expect(p.find((l) => l.startsWith('datasets.1.paths.old:'))).toMatch(/overlaps dataset events/);
    expect(p).toContain('jobs.0.host: unknown host "gateway": hosts are edge');
    expect(p.find((l) => l.startsWith('jobs.0.command:') && l.includes('{outptu}'))).toMatch(/unknown placeholder/);
    expect(p).toContain('jobs.0.command: the command must write to {output}: that is what is compared');
    expect(p.find((l) => l.includes('{dataset:nope}'))).toMatch(/no dataset named "nope"/);
    expect(p).toContain('cleanPeriod: give cycles (consecutive clean cycles), minimum (a duration), or both');
    expect(p).toContain('traffic.dns.name: hdfs.elsewhere.internal is not inside zone sandbox.internal');
  });

  it('refuses a secret in the plan, a job without {fs}, jobs without an output root, an unsafe path, and a source inside the target', () => {
    const p = problems(
      valid
        .replace('delegationToken: { secret: dc2-token }', 'delegationToken: { value: s3cret }')
        .replace("-fs, '{fs}', ", '')
        .replace('shadow: { outputRoot: /cutover/shadow }\n', '')
        .replace('paths: { old: /data/events, new: /data/events }', 'paths: { old: /data/events, new: /tmp }')
        .replace('source: { hdfs: /ingest/raw }', 'source: { hdfs: /data/raw/in }'),
    );
    expect(p.find((l) => l.startsWith('clusters.new.delegationToken'))).toBeTruthy();
    expect(p).toContain('jobs.0.command: the command must use {fs}: without it both runs would use the same cluster');
    expect(p).toContain('shadow: jobs need shadow.outputRoot: where their outputs go on each cluster');
    expect(p.find((l) => l.startsWith('datasets[0].paths.new:'))).toMatch(/system directory|two levels/);
    expect(p.find((l) => l.startsWith('datasets.1.source.hdfs:'))).toMatch(/overlap/);
  });

  it('reference checks survive a document that is not a plan at all', () => {
    expect(hdfsReferenceProblems(null)).toEqual([]);
    expect(hdfsReferenceProblems({ clusters: 'x', datasets: 'y', jobs: [null, 3] })).toEqual([]);
  });
});

describe('hdfs-dual-write verify and freeze rules', () => {
  const d = (blockSize: number, bytesPerChecksum: number, checksumType = 2) => ({ blockSize, bytesPerChecksum, checksumType, replication: 1 });
  it('verifies by file checksum only when both clusters compute the same ones', () => {
    expect(verifyMethod('auto', d(134217728, 512), d(134217728, 512)).verify).toBe('checksum');
    expect(verifyMethod('auto', d(134217728, 512), d(268435456, 512))).toMatchObject({ verify: 'sha256', why: expect.stringMatching(/settings differ/) });
    expect(verifyMethod('auto', d(134217728, 512, 1), d(134217728, 512, 2)).verify).toBe('sha256');
    expect(verifyMethod('streamed', d(134217728, 512), d(134217728, 512)).verify).toBe('sha256');
    expect(verifyMethod('checksum', d(134217728, 512), d(268435456, 1024)).verify).toBe('checksum');
  });

  it('the freeze takes off the write bits of group and others only', () => {
    expect(['755', '644', '700', '1755'].map(writableByOthers)).toEqual([false, false, false, false]);
    expect(['775', '777', '664', '1777'].map(writableByOthers)).toEqual([true, true, true, true]);
    expect(['775', '777', '664', '1777'].map(withoutOthersWrite)).toEqual(['755', '755', '644', '1755']);
  });
});
