// The sandbox's endpoints: written by `sandbox:up` to <stateDir>/sandbox.json, read by the demo, tests and
// benchmarks. Everything listens on loopback; dc1 is 127.0.1.1, dc2 is 127.0.2.1, DNS is 127.0.3.1.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SshHost } from '../../workflows/shared/types';

export interface SandboxHost {
  name: 'dc1' | 'dc2';
  address: string; // 127.0.1.1 / 127.0.2.1
  sshPort: number; // 2222
  user: string; // dedicated unix user, key auth only
  identityFile: string; // absolute path of the private key cutover uses
  knownHostsFile: string; // absolute path: both hosts' keys pinned as [addr]:port lines
}

export interface SandboxHdfsCluster {
  name: 'dc1' | 'dc2';
  nameNode: string; // 127.0.1.1 / 127.0.2.1: NameNode and DataNode both bind it
  rpcPort: number; // 8020
  httpPort: number; // 9870 (WebHDFS, JMX)
  fsUri: string; // hdfs://127.0.1.1:8020, for FsShell/DistCp/jobs
  webhdfsUrl: string; // http://127.0.1.1:9870, what cutover talks to
  confDir: string; // core-site.xml + hdfs-site.xml of the cluster, usable by clients on the classpath
}

export interface SandboxEndpoints {
  stateDir: string;
  temporal: { address: string; namespace: string; uiUrl: string; dbFile: string };
  hosts: { dc1: SandboxHost; dc2: SandboxHost };
  files: { sourceDir: string; targetDir: string }; // demo asset tree in dc1, empty target in dc2
  postgres: {
    binDir: string; // PostgreSQL 15 binaries, usable on both hosts
    primary: { host: string; port: number; dataDir: string; superuser: string; superuserPasswordFile: string; database: string };
    replication: { user: string; passwordFile: string };
    standby: { host: string; port: number; dataDir: string }; // dc2: dataDir does not exist yet
  };
  redis: {
    source: { host: string; port: number; dir: string };
    target: { host: string; port: number; dir: string };
  };
  gcs: { endpoint: string; projectId: string; bucket: string };
  dns: {
    server: string; // 127.0.3.1
    port: number; // 5053
    zone: string; // sandbox.internal
    tsigKeyFile: string; // output of tsig-keygen, usable with `nsupdate -k`
    records: Record<string, string>; // name (e.g. "assets.sandbox.internal") -> A address
  };
  /** Absent in a sandbox.json written by an `up` from before HDFS was in the sandbox: see hdfsEndpoints() in layout.ts. */
  hdfs?: {
    version: string; // Hadoop 3.4.2
    classpathFile: string; // one line, ':'-separated jars from Maven Central: `java -cp CONF:$(cat FILE) ...`
    superuser: string; // the daemons' OS user
    user: string; // the name cutover sends as user.name
    clusters: { dc1: SandboxHdfsCluster; dc2: SandboxHdfsCluster };
  };
}

export function defaultStateDir(): string {
  return process.env.CUTOVER_STATE_DIR ?? path.resolve(__dirname, '..', '..', '.state');
}

export function sandboxFile(stateDir = defaultStateDir()): string {
  return path.join(stateDir, 'sandbox.json');
}

/** Reads the endpoints of a running sandbox, or explains how to start one. */
export function loadSandbox(stateDir = defaultStateDir()): SandboxEndpoints {
  const file = sandboxFile(stateDir);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SandboxEndpoints;
  } catch {
    throw new Error(`no sandbox at ${file}: run \`npm run sandbox:up\` first`);
  }
}

/**
 * Names in the sandbox worker's secret store (<stateDir>/secrets: CUTOVER_SECRETS_DIR of every worker started
 * for the sandbox). Sample plans, tests, benches and the demo name secrets so; `up` puts them there.
 */
export const SANDBOX_SECRETS = {
  sshIdentity: 'sandbox-ssh',
  tsigKey: 'sandbox-tsig',
  pgSuperuser: 'pg-superuser',
  pgReplicator: 'pg-replicator',
  /** The sandbox CA's certificate: PostgreSQL clients verify the servers' certificates against it. */
  ca: 'sandbox-ca',
} as const;

/** The sandbox worker's secret store (CUTOVER_SECRETS_DIR): names in SANDBOX_SECRETS, tests add their own. */
export function sandboxSecretsDir(sb: Pick<SandboxEndpoints, 'stateDir'>): string {
  return path.join(sb.stateDir, 'secrets');
}


/** A sandbox host as cutover's activities take it: its SSH key by name in the sandbox worker's secret store. */
export function sandboxSshHost(sb: Pick<SandboxEndpoints, 'hosts'>, dc: 'dc1' | 'dc2'): SshHost {
  const h = sb.hosts[dc];
  return { name: dc, address: h.address, port: h.sshPort, user: h.user, identity: { secret: SANDBOX_SECRETS.sshIdentity }, knownHostsFile: h.knownHostsFile };
}

/**
 * The settings a worker needs to run against this sandbox: its Temporal server, its artifact store (the GCS
 * emulator) and its secret store. A worker never looks for the sandbox itself (an installed worker must not switch to an emulator
 * because a `.state` directory happens to exist): whoever starts one for the sandbox passes these as environment.
 */
export function sandboxWorkerEnv(sb: SandboxEndpoints): Record<string, string> {
  return {
    TEMPORAL_ADDRESS: sb.temporal.address,
    TEMPORAL_NAMESPACE: sb.temporal.namespace,
    CUTOVER_GCS_ENDPOINT: sb.gcs.endpoint,
    CUTOVER_GCS_PROJECT: sb.gcs.projectId,
    // The worker's secret store: one file per name (SANDBOX_SECRETS), made by `up`.
    CUTOVER_SECRETS_DIR: sandboxSecretsDir(sb),
  };
}

/**
 * For a worker started in this process (demo, benchmarks, tests): sets the sandbox's worker settings in `env`
 * where they are not set already, so an explicit TEMPORAL_ADDRESS or CUTOVER_GCS_ENDPOINT still wins.
 */
export function useSandboxWorkerEnv(sb: SandboxEndpoints, env: NodeJS.ProcessEnv = process.env): void {
  for (const [name, value] of Object.entries(sandboxWorkerEnv(sb))) env[name] ??= value;
}

/**
 * Sets (or, with null, removes) the A record `name` in the sandbox's zone, signed with its TSIG key: how
 * scripts put a name back before a run. Migrations switch names through their own activity, not this.
 */
export function setSandboxRecord(sb: SandboxEndpoints, name: string, address: string | null): void {
  const lines = [`server ${sb.dns.server} ${sb.dns.port}`, `zone ${sb.dns.zone}`, `update delete ${name}. A`];
  if (address) lines.push(`update add ${name}. 1 A ${address}`);
  const r = spawnSync('nsupdate', ['-k', sb.dns.tsigKeyFile], { input: [...lines, 'send', ''].join('\n'), encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nsupdate for ${name} failed (${r.status}): ${r.stderr || r.error?.message}`);
}
