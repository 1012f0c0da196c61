// Where everything lives. One function turns a state dir into every path, address and port the sandbox
// uses, so `up`, `down`, `status` and sandbox.json can never disagree.
import path from 'node:path';
import { SANDBOX_SECRETS, type SandboxEndpoints } from './endpoints';

export const USER = 'cutover';
export const USER_HOME = `/home/${USER}`;
export const PG_BIN_DIR = '/usr/lib/postgresql/15/bin';

export const DC1 = '127.0.1.1';
export const DC2 = '127.0.2.1';
export const DNS_ADDRESS = '127.0.3.1';
export const SSH_PORT = 2222;

export const TEMPORAL = { ip: '127.0.0.1', port: 7233, uiPort: 8233, namespace: 'default' } as const;
export const SEARCH_ATTRIBUTES = ['CutoverPhase=Keyword', 'CutoverKind=Keyword', 'CutoverName=Keyword', 'CutoverCleanCycles=Int'];
export const GCS = { host: '127.0.0.1', port: 4443, projectId: 'cutover-sandbox', bucket: 'cutover-artifacts' } as const;
export const DNS = { port: 5053, zone: 'sandbox.internal', keyName: 'cutover' } as const;
export const PG_PORT = 5432;
export const REDIS_PORT = 6379;
/** HDFS's standard ports, one NameNode and one DataNode per datacenter address. */
export const HDFS = { rpcPort: 8020, httpPort: 9870, dataNodePort: 9866, dataNodeHttpPort: 9864, dataNodeIpcPort: 9867 } as const;
export const HADOOP_VERSION = '3.4.2';
/**
 * Hadoop's jars, resolved from Maven Central once per machine (like the Go tools' GOPATH): outside the state dir,
 * so `down --purge` and a new state dir do not download them again. Root writes it; the daemons (cutover) read it.
 */
export const HADOOP_CACHE = process.env.CUTOVER_HADOOP_CACHE ?? `/var/cache/cutover/hadoop-${HADOOP_VERSION}`;

/** Names the data moves switch between datacenters; all start in dc1. */
export const DNS_RECORDS: Record<string, string> = {
  [`assets.${DNS.zone}`]: DC1,
  [`pg.${DNS.zone}`]: DC1,
  [`redis.${DNS.zone}`]: DC1,
  [`hdfs.${DNS.zone}`]: DC1,
};

export type Layout = ReturnType<typeof layout>;

export function layout(stateDir: string) {
  const p = (...parts: string[]) => path.join(stateDir, ...parts);
  const host = (dc: 'dc1' | 'dc2') => ({
    dir: p(dc),
    // Per-host PostgreSQL settings (listen address, socket dir). The data dir's postgresql.conf includes
    // '../postgres-host.conf', so a standby cloned into dc2/pg by pg_basebackup picks up dc2's file.
    pgHostConf: p(dc, 'postgres-host.conf'),
    pgSocketDir: p(dc, 'run'),
    pgData: p(dc, 'pg'),
    pgLog: p('logs', `postgres-${dc}.log`),
    redisDir: p(dc, 'redis'),
    redisConf: p(dc, 'redis.conf'),
    redisLog: p('logs', `redis-${dc}.log`),
    redisPid: p('run', `redis-${dc}.pid`),
    // A move stops and starts the host's Redis over SSH, as `cutover`, with this script (redis.ts writes it);
    // a server it started keeps its pid here, where cutover may write.
    redisCtl: p(dc, 'redis-ctl.sh'),
    redisCtlPid: p(dc, 'redis.pid'),
    redisCtlLog: p(dc, 'redis-ctl.log'),
    assets: p(dc, 'assets'),
    sshdConf: p('ssh', `sshd-${dc}.conf`),
    sshdHostKey: p('ssh', `host-${dc}`, 'ssh_host_ed25519_key'),
    sshdPid: p('run', `sshd-${dc}.pid`),
    sshdLog: p('logs', `sshd-${dc}.log`),
    hdfs: {
      dir: p(dc, 'hdfs'),
      conf: p(dc, 'hdfs', 'conf'),
      name: p(dc, 'hdfs', 'name'),
      data: p(dc, 'hdfs', 'data'),
      tmp: p(dc, 'hdfs', 'tmp'),
      nameNodePid: p('run', `hdfs-namenode-${dc}.pid`),
      dataNodePid: p('run', `hdfs-datanode-${dc}.pid`),
      nameNodeLog: p('logs', `hdfs-namenode-${dc}.log`),
      dataNodeLog: p('logs', `hdfs-datanode-${dc}.log`),
    },
  });
  return {
    stateDir,
    sandboxJson: p('sandbox.json'),
    logs: p('logs'),
    run: p('run'),
    secrets: p('secrets'),
    pgSuperuserPassword: p('secrets', SANDBOX_SECRETS.pgSuperuser),
    pgReplicatorPassword: p('secrets', SANDBOX_SECRETS.pgReplicator),
    // The sandbox's own CA (made once by `up`): PostgreSQL servers' certificates, verified by cutover.
    tls: {
      dir: p('tls'),
      caKey: p('tls', 'ca.key'),
      caCert: p('tls', 'ca.crt'),
    },
    addressMarker: p('run', 'dns-address-added'),
    temporal: {
      dir: p('temporal'),
      db: p('temporal', 'temporal.db'),
      pid: p('run', 'temporal.pid'),
      log: p('logs', 'temporal.log'),
    },
    ssh: {
      dir: p('ssh'),
      identity: p('ssh', 'id_ed25519'),
      knownHosts: p('ssh', 'known_hosts'),
      log: p('logs', 'ssh.log'),
    },
    gcs: { root: p('gcs'), pid: p('run', 'gcs.pid'), log: p('logs', 'gcs.log') },
    dns: {
      dir: p('dns'),
      conf: p('dns', 'named.conf'),
      key: p('dns', 'tsig.key'),
      zoneDir: p('dns', 'zones'),
      zoneFile: p('dns', 'zones', `${DNS.zone}.zone`),
      pid: p('run', 'named.pid'),
      log: p('logs', 'named.log'),
    },
    installLog: p('logs', 'install.log'),
    hadoop: {
      dir: HADOOP_CACHE,
      pom: path.join(HADOOP_CACHE, 'pom.xml'),
      repository: path.join(HADOOP_CACHE, 'repository'),
      classpath: path.join(HADOOP_CACHE, 'classpath.txt'),
    },
    dc1: host('dc1'),
    dc2: host('dc2'),
  };
}

export function endpoints(l: Layout, records: Record<string, string> = DNS_RECORDS): SandboxEndpoints {
  const host = (name: 'dc1' | 'dc2', address: string) => ({
    name,
    address,
    sshPort: SSH_PORT,
    user: USER,
    identityFile: l.ssh.identity,
    knownHostsFile: l.ssh.knownHosts,
  });
  return {
    stateDir: l.stateDir,
    temporal: {
      address: `${TEMPORAL.ip}:${TEMPORAL.port}`,
      namespace: TEMPORAL.namespace,
      uiUrl: `http://${TEMPORAL.ip}:${TEMPORAL.uiPort}`,
      dbFile: l.temporal.db,
    },
    hosts: { dc1: host('dc1', DC1), dc2: host('dc2', DC2) },
    files: { sourceDir: l.dc1.assets, targetDir: l.dc2.assets },
    postgres: {
      binDir: PG_BIN_DIR,
      primary: {
        host: DC1,
        port: PG_PORT,
        dataDir: l.dc1.pgData,
        superuser: 'postgres',
        superuserPasswordFile: l.pgSuperuserPassword,
        database: 'app',
      },
      replication: { user: 'replicator', passwordFile: l.pgReplicatorPassword },
      standby: { host: DC2, port: PG_PORT, dataDir: l.dc2.pgData },
    },
    redis: {
      source: { host: DC1, port: REDIS_PORT, dir: l.dc1.redisDir },
      target: { host: DC2, port: REDIS_PORT, dir: l.dc2.redisDir },
    },
    gcs: { endpoint: `http://${GCS.host}:${GCS.port}`, projectId: GCS.projectId, bucket: GCS.bucket },
    dns: { server: DNS_ADDRESS, port: DNS.port, zone: DNS.zone, tsigKeyFile: l.dns.key, records },
    hdfs: hdfsEndpoints(l),
  };
}

/** The two HDFS clusters as clients see them: WebHDFS for cutover, the RPC address and conf dir for Hadoop's own tools. */
export function hdfsEndpoints(l: Layout): NonNullable<SandboxEndpoints['hdfs']> {
  const cluster = (name: 'dc1' | 'dc2', address: string) => ({
    name,
    nameNode: address,
    rpcPort: HDFS.rpcPort,
    httpPort: HDFS.httpPort,
    fsUri: `hdfs://${address}:${HDFS.rpcPort}`,
    webhdfsUrl: `http://${address}:${HDFS.httpPort}`,
    confDir: l[name].hdfs.conf,
  });
  return {
    version: HADOOP_VERSION,
    classpathFile: l.hadoop.classpath,
    // The daemons run as cutover, which makes it HDFS's superuser; simple auth (user.name) everywhere.
    superuser: USER,
    user: USER,
    clusters: { dc1: cluster('dc1', DC1), dc2: cluster('dc2', DC2) },
  };
}
