// The hdfs-dual-write plan (zod): schema, cross-field checks, plan → workflow input, and the sandbox's sample plan.
// Two clusters (old and new), datasets refreshed to both on a schedule, shadow jobs run on both and compared, a
// clean period, then the old cluster's paths frozen and the `hdfs` DNS name switched. Credentials are never in a
// plan: a cluster authenticates with a plain `user` (simple auth) or a delegation token by name in the worker's
// secret store (the shared SecretRef form, `{ secret: NAME }`); the alert webhook's URL likewise.
import { z } from 'zod';
import type { HdfsDualWriteInput } from '../../workflows/hdfs-dual-write';
import type { SandboxEndpoints } from '../sandbox/endpoints';
import { hdfsEndpoints, layout } from '../sandbox/layout';
import { approverLine } from '../sandbox/people';
import {
  absolutePath,
  approvalSchema,
  artifactsSchema,
  dnsFields,
  dnsProblems,
  duration,
  gatePolicy,
  gateSchema,
  hostSchema,
  ipv4,
  plainText,
  positiveDuration,
  secretRef,
} from './fields';
import { sandboxDns, sandboxHosts } from './sandbox';

const shortName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'expected a short lowercase name (a-z, 0-9, _ -)');
/** An HDFS path: absolute and normalised, never a top-level directory (the same rule as a host's paths). */
const hdfsPath = absolutePath;
/** A login name HDFS takes as `user.name`: a plain name, never a query string. */
const hdfsUser = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/, 'expected a plain HDFS user name (letters, digits, _ . -)');

const clusterSchema = z.strictObject({
  name: shortName.describe('short name for messages: dc1'),
  webhdfs: z
    .url({ protocol: /^https?$/, error: 'expected the NameNode\'s WebHDFS address, http(s)://HOST:PORT (port 9870 by default)' })
    .refine((u) => { const p = new URL(u); return (p.pathname === '/' || p.pathname === '') && !p.search && !p.username && !p.password; }, 'expected only scheme, host and port: no path, query or credentials')
    .transform((u) => u.replace(/\/+$/, '')),
  fs: z
    .string()
    .regex(/^hdfs:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/, 'expected the NameNode\'s RPC address, hdfs://HOST:PORT (port 8020 by default), what jobs get as {fs}'),
  address: ipv4.describe('the NameNode\'s address, where the DNS name points while this cluster serves'),
  user: hdfsUser.optional().describe('simple authentication: the user cutover acts as (user.name)'),
  delegationToken: secretRef.optional().describe("a delegation token by name in the worker's secret store, instead of user"),
});

const sourceSchema = z.union([
  z.strictObject({ local: absolutePath.describe('a directory on the worker host') }),
  z.strictObject({ hdfs: hdfsPath.describe('a path on the old cluster') }),
]);

const datasetSchema = z.strictObject({
  name: shortName,
  source: sourceSchema,
  paths: z.strictObject({ old: hdfsPath, new: hdfsPath }),
});

const PLACEHOLDER = /\{(fs|output|run|dataset:[^}]*)\}/g;

const jobSchema = z.strictObject({
  name: shortName,
  host: z.string().min(1).describe('host alias in hosts: where the job runs (a Hadoop client), over SSH'),
  command: z.array(plainText).min(1, 'expected the command as a list of arguments'),
  compare: z.enum(['bytes', 'sorted-lines']).default('bytes'),
  timeout: positiveDuration.default(30 * 60_000),
});

export const hdfsDualWritePlanSchema = z
  .strictObject({
    kind: z.literal('hdfs-dual-write'),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a short lowercase name (a-z, 0-9, -)'),
    clusters: z.strictObject({ old: clusterSchema, new: clusterSchema }),
    hosts: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), hostSchema).default({}),
    datasets: z.array(datasetSchema).min(1, 'list at least one dataset'),
    refresh: z
      .strictObject({
        every: positiveDuration.default(24 * 3_600_000).describe('each dataset is written to both clusters this often'),
        verify: z.enum(['auto', 'checksum', 'streamed']).default('auto').describe('auto: file checksums when both clusters share block size and bytes per checksum, else streamed SHA-256'),
        concurrency: z.number().int().min(1).max(64).default(4).describe('files written at once to each cluster (the DataNode waits overlap: 1,000 small files to both took 22 s at 4, 15 s at 8 on the sandbox)'),
        permission: z.string().regex(/^[0-7]{3,4}$/, 'expected an octal permission such as 644').optional(),
      })
      .prefault({}),
    jobs: z.array(jobSchema).default([]),
    shadow: z
      .strictObject({
        outputRoot: hdfsPath.describe('job outputs go under it on each cluster: ROOT/JOB/cycle-N'),
        noiseBaseline: z.boolean().default(true).describe('run each job twice on the old cluster first: files that differ between those runs are noise'),
        sampleLines: z.number().int().min(0).max(50).default(5),
      })
      .optional(),
    alert: z.strictObject({ webhook: secretRef.describe("the webhook URL (Slack-compatible) by name in the worker's secret store") }).optional(),
    cleanPeriod: z
      .strictObject({
        cycles: z.number().int().min(1).max(10_000).optional().describe('consecutive clean cycles'),
        minimum: positiveDuration.optional().describe('and clean for at least this long'),
      })
      .prefault({ cycles: 7 }),
    freeze: z.boolean().default(true).describe("at cutover, take the write bits of group and others off the old cluster's dataset paths"),
    soak: duration.default(24 * 3_600_000).describe('after the switch, keep refreshing the old cluster this long before the complete gate'),
    approval: approvalSchema,
    gates: z.strictObject({ cutover: gateSchema, complete: gateSchema }).prefault({ cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } }),
    traffic: z.strictObject({ dns: z.strictObject(dnsFields) }),
    artifacts: artifactsSchema.optional(),
  })
  .superRefine((plan, ctx) => {
    for (const p of hdfsReferenceProblems(plan)) ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  });

export type HdfsDualWritePlan = z.infer<typeof hdfsDualWritePlanSchema>;

/** Cross-field checks; defensive, also run on a raw document that failed the schema elsewhere. */
export function hdfsReferenceProblems(raw: unknown): { path: string[]; message: string }[] {
  const plan = (raw ?? {}) as {
    clusters?: Record<'old' | 'new', { name?: unknown; webhdfs?: unknown; fs?: unknown; address?: unknown; user?: unknown; delegationToken?: unknown } | undefined>;
    hosts?: Record<string, unknown>;
    datasets?: Array<{ name?: unknown; source?: { hdfs?: unknown }; paths?: { old?: unknown; new?: unknown } } | undefined>;
    jobs?: Array<{ name?: unknown; host?: unknown; command?: unknown } | undefined>;
    shadow?: { outputRoot?: unknown };
    cleanPeriod?: { cycles?: unknown; minimum?: unknown };
    traffic?: { dns?: { zone?: string; name?: string } };
  };
  const out: { path: string[]; message: string }[] = [];
  const clusters = plan.clusters && typeof plan.clusters === 'object' ? plan.clusters : undefined;
  for (const side of ['old', 'new'] as const) {
    const c = clusters?.[side];
    if (!c || typeof c !== 'object') continue;
    if (c.user !== undefined && c.delegationToken !== undefined) out.push({ path: ['clusters', side], message: 'give user or delegationToken, not both' });
    if (c.user === undefined && c.delegationToken === undefined) out.push({ path: ['clusters', side], message: "give the user cutover acts as (user) or a delegation token by name in the worker's secret store (delegationToken: { secret: NAME })" });
  }
  const o = clusters?.old;
  const n = clusters?.new;
  if (o && n && typeof o === 'object' && typeof n === 'object') {
    if (o.name !== undefined && o.name === n.name) out.push({ path: ['clusters', 'new', 'name'], message: `both clusters are called ${String(o.name)}: give each its own name` });
    if (o.webhdfs !== undefined && o.webhdfs === n.webhdfs) out.push({ path: ['clusters', 'new', 'webhdfs'], message: 'the new cluster must be another NameNode than the old one' });
    if (o.address !== undefined && o.address === n.address) out.push({ path: ['clusters', 'new', 'address'], message: 'the DNS name must move to another address: both clusters have the same' });
  }
  const datasets = Array.isArray(plan.datasets) ? plan.datasets : [];
  const names = datasets.map((d) => d?.name);
  datasets.forEach((d, i) => {
    if (typeof d?.name === 'string' && names.indexOf(d.name) !== i) out.push({ path: ['datasets', String(i), 'name'], message: `dataset "${d.name}" is listed twice` });
  });
  // Two datasets writing into the same tree would overwrite each other's files.
  for (const side of ['old', 'new'] as const) {
    const paths = datasets.map((d) => d?.paths?.[side]);
    paths.forEach((p, i) => {
      if (typeof p !== 'string') return;
      const j = paths.findIndex((q, k) => k !== i && typeof q === 'string' && overlap(p, q));
      if (j >= 0 && j < i) out.push({ path: ['datasets', String(i), 'paths', side], message: `${p} overlaps dataset ${String(datasets[j]?.name)}'s ${String(paths[j])} on the ${side} cluster` });
    });
  }
  datasets.forEach((d, i) => {
    const src = d?.source?.hdfs;
    const old = d?.paths?.old;
    if (typeof src === 'string' && typeof old === 'string' && overlap(src, old)) {
      out.push({ path: ['datasets', String(i), 'source', 'hdfs'], message: `the source ${src} and the dataset's path on the old cluster ${old} overlap: the refresh would write into what it reads` });
    }
  });
  const hosts = plan.hosts && typeof plan.hosts === 'object' ? plan.hosts : {};
  const jobs = Array.isArray(plan.jobs) ? plan.jobs : [];
  const jobNames = jobs.map((j) => j?.name);
  jobs.forEach((j, i) => {
    if (!j || typeof j !== 'object') return;
    const at = ['jobs', String(i)];
    if (typeof j.name === 'string' && jobNames.indexOf(j.name) !== i) out.push({ path: [...at, 'name'], message: `job "${j.name}" is listed twice` });
    if (typeof j.host === 'string' && !Object.hasOwn(hosts, j.host)) out.push({ path: [...at, 'host'], message: `unknown host "${j.host}": hosts are ${Object.keys(hosts).join(', ') || '(none)'}` });
    if (!Array.isArray(j.command)) return;
    const words = j.command.filter((w): w is string => typeof w === 'string');
    const used = new Set(words.flatMap((w) => [...w.matchAll(PLACEHOLDER)].map((m) => m[1])));
    const unknown = words.flatMap((w) => [...w.matchAll(/\{([^}]*)\}/g)].map((m) => m[1])).filter((p) => !/^(fs|output|run|dataset:.+)$/.test(p));
    if (unknown.length) out.push({ path: [...at, 'command'], message: `unknown placeholder(s) ${unknown.map((p) => `{${p}}`).join(', ')}: use {fs}, {output}, {run}, {dataset:NAME}` });
    if (!used.has('fs')) out.push({ path: [...at, 'command'], message: 'the command must use {fs}: without it both runs would use the same cluster' });
    if (!used.has('output')) out.push({ path: [...at, 'command'], message: 'the command must write to {output}: that is what is compared' });
    for (const p of used) {
      if (p.startsWith('dataset:') && !names.includes(p.slice('dataset:'.length))) {
        out.push({ path: [...at, 'command'], message: `{${p}}: no dataset named "${p.slice('dataset:'.length)}" (datasets are ${names.filter((x) => typeof x === 'string').join(', ') || '(none)'})` });
      }
    }
  });
  if (jobs.some((j) => j && typeof j === 'object') && plan.shadow === undefined) out.push({ path: ['shadow'], message: 'jobs need shadow.outputRoot: where their outputs go on each cluster' });
  const root = plan.shadow?.outputRoot;
  if (typeof root === 'string') {
    datasets.forEach((d, i) => {
      for (const side of ['old', 'new'] as const) {
        const p = d?.paths?.[side];
        if (typeof p === 'string' && overlap(p, root)) out.push({ path: ['shadow', 'outputRoot'], message: `${root} overlaps dataset ${String(datasets[i]?.name)}'s ${p}: job outputs would mix with the data` });
      }
    });
  }
  const clean = plan.cleanPeriod;
  if (clean && typeof clean === 'object' && clean.cycles === undefined && clean.minimum === undefined) {
    out.push({ path: ['cleanPeriod'], message: 'give cycles (consecutive clean cycles), minimum (a duration), or both' });
  }
  out.push(...dnsProblems(plan.traffic?.dns, ['traffic', 'dns']));
  return out;
}

function overlap(a: string, b: string): boolean {
  const x = `${a.replace(/\/+$/, '')}/`;
  const y = `${b.replace(/\/+$/, '')}/`;
  return x.startsWith(y) || y.startsWith(x);
}

/** Plan (validated) → workflow input (plain data; the token and the webhook stay references). */
export function hdfsDualWriteInput(plan: HdfsDualWritePlan, startedBy: string): HdfsDualWriteInput {
  const hosts = Object.fromEntries(Object.entries(plan.hosts).map(([name, h]) => [name, { name, ...h }]));
  const cluster = (c: HdfsDualWritePlan['clusters']['old']) => ({
    name: c.name,
    url: c.webhdfs,
    fs: c.fs,
    address: c.address,
    ...(c.user !== undefined ? { user: c.user } : {}),
    ...(c.delegationToken !== undefined ? { delegationToken: c.delegationToken } : {}),
  });
  return {
    name: plan.name,
    startedBy,
    clusters: { old: cluster(plan.clusters.old), new: cluster(plan.clusters.new) },
    datasets: plan.datasets.map((d) => ({ name: d.name, source: d.source, paths: d.paths })),
    refresh: {
      everyMs: plan.refresh.every,
      verify: plan.refresh.verify,
      concurrency: plan.refresh.concurrency,
      ...(plan.refresh.permission ? { permission: plan.refresh.permission } : {}),
    },
    jobs: plan.jobs.map((j) => ({ name: j.name, command: j.command, host: hosts[j.host], compare: j.compare, timeoutSeconds: Math.ceil(j.timeout / 1000) })),
    shadow: plan.shadow ?? { outputRoot: '/cutover-shadow', noiseBaseline: false, sampleLines: 5 },
    ...(plan.alert ? { alert: { webhook: plan.alert.webhook } } : {}),
    clean: { cycles: plan.cleanPeriod.cycles ?? 1, minimumMs: plan.cleanPeriod.minimum ?? 0 },
    freeze: plan.freeze,
    soakMs: plan.soak,
    approval: plan.approval,
    gates: { cutover: gatePolicy(plan.gates.cutover), complete: gatePolicy(plan.gates.complete) },
    traffic: plan.traffic,
    artifacts: plan.artifacts,
  };
}

// ---- the sandbox's sample plan ----------------------------------------------------------------------

export interface SandboxHdfsPlanOptions {
  name: string;
  dnsName: string;
  /** Datasets: name → source (a local dir or an HDFS path on dc1) and the path used on both clusters. */
  datasets: Array<{ name: string; local?: string; hdfs?: string; path: string; newPath?: string }>;
  /** A WordCount job over each of these datasets (the sandbox's Hadoop classpath, the local runner). */
  wordCount?: string[];
  /** Extra jobs as the plan lists them. */
  jobs?: Array<Record<string, unknown>>;
  outputRoot?: string;
  user?: string;
  every?: string;
  cleanCycles?: number;
  soak?: string;
  noiseBaseline?: boolean;
  /** Name of the webhook URL's secret in the sandbox worker's store. */
  alertWebhook?: string;
  verify?: 'auto' | 'checksum' | 'streamed';
  approvers?: string[];
}

/**
 * A WordCount job on the sandbox: java with a conf dir (a client JVM needs a core-site.xml; `-fs` says which
 * cluster) and the sandbox's Hadoop classpath (read from its file on the job host: the argv stays short), the
 * local job runner, `-fs {fs}` so the same command runs against either cluster.
 */
export function sandboxWordCountJob(sb: SandboxEndpoints, dataset: string, host = 'dc1'): Record<string, unknown> {
  const hdfs = sb.hdfs ?? hdfsEndpoints(layout(sb.stateDir));
  // Input directories read recursively (a dataset has subdirectories); the local runner's scratch space removed after.
  const script =
    `java -Xmx512m -cp "${hdfs.clusters.dc1.confDir}:$(cat ${hdfs.classpathFile})" org.apache.hadoop.examples.WordCount -D mapreduce.framework.name=local ` +
    `-D mapreduce.input.fileinputformat.input.dir.recursive=true -D dfs.client.use.datanode.hostname=true -D hadoop.tmp.dir=/tmp/cutover-jobs-$2 ` +
    `-fs "$1" "$3" "$4"; rc=$?; rm -rf /tmp/cutover-jobs-$2; exit $rc`;
  return { name: `wordcount-${dataset}`, host, command: ['sh', '-c', script, 'sh', '{fs}', '{run}', `{dataset:${dataset}}`, '{output}'], compare: 'sorted-lines', timeout: '10m' };
}

export function sandboxHdfsDualWritePlan(sb: SandboxEndpoints, o: SandboxHdfsPlanOptions): Record<string, unknown> {
  const clusters = sb.hdfs?.clusters ?? {
    dc1: { name: 'dc1', nameNode: '127.0.1.1', webhdfsUrl: 'http://127.0.1.1:9870', fsUri: 'hdfs://127.0.1.1:8020' },
    dc2: { name: 'dc2', nameNode: '127.0.2.1', webhdfsUrl: 'http://127.0.2.1:9870', fsUri: 'hdfs://127.0.2.1:8020' },
  };
  const user = o.user ?? sb.hdfs?.user ?? 'cutover';
  const cluster = (c: { name: string; nameNode: string; webhdfsUrl: string; fsUri: string }) => ({ name: c.name, webhdfs: c.webhdfsUrl, fs: c.fsUri, address: c.nameNode, user });
  const jobs = [...(o.wordCount ?? []).map((d) => sandboxWordCountJob(sb, d)), ...(o.jobs ?? [])];
  return {
    kind: 'hdfs-dual-write',
    name: o.name,
    clusters: { old: cluster(clusters.dc1), new: cluster(clusters.dc2) },
    hosts: sandboxHosts(sb),
    datasets: o.datasets.map((d) => ({ name: d.name, source: d.local ? { local: d.local } : { hdfs: d.hdfs }, paths: { old: d.path, new: d.newPath ?? d.path } })),
    refresh: { every: o.every ?? '24h', verify: o.verify ?? 'auto' },
    ...(jobs.length ? { jobs, shadow: { outputRoot: o.outputRoot ?? `/cutover-shadow/${o.name}`, noiseBaseline: o.noiseBaseline ?? true } } : {}),
    ...(o.alertWebhook ? { alert: { webhook: { secret: o.alertWebhook } } } : {}),
    cleanPeriod: { cycles: o.cleanCycles ?? 1 },
    freeze: true,
    soak: o.soak ?? '0s',
    approval: { approvers: (o.approvers ?? ['alice', 'bob']).map((name) => approverLine(sb.stateDir, name)), requireSecondPerson: true },
    gates: { cutover: { onTimeout: 'wait' }, complete: { onTimeout: 'wait' } },
    traffic: { dns: sandboxDns(sb, o.dnsName) },
    artifacts: { bucket: sb.gcs.bucket, prefix: 'reports' },
  };
}
