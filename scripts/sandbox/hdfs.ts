// Two HDFS clusters, one per datacenter: a real NameNode and DataNode each, bound to the datacenter's loopback
// address on HDFS's standard ports, run by `cutover` (which makes it HDFS's superuser) from the Maven-resolved
// classpath (install.ts). Not MiniDFSCluster: it binds 127.0.0.1 whatever the configuration says, and two of them
// would collide.
//
// The conf dir of each cluster (core-site.xml, hdfs-site.xml, log4j.properties) is rewritten by every `up`, so it
// always says what this file says; it also serves clients (FsShell, DistCp, jobs) as `-cp CONF:CP`. The NameNode
// is formatted only when name/current/VERSION is missing: data survives `down`, kill -9 and `up`.
import { chownSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Component, Context, Health } from './component';
import { hadoopClasspath } from './install';
import { DC1, DC2, HDFS, USER } from './layout';
import { assertPortFree, livePid, runLogged, SandboxError, startServer, stopPidFile, userIds, waitFor } from './process';

export const NAME_NODE_CLASS = 'org.apache.hadoop.hdfs.server.namenode.NameNode';
export const DATA_NODE_CLASS = 'org.apache.hadoop.hdfs.server.datanode.DataNode';
/** In each cluster's conf dir: see jvmHostsFile. */
const HOSTS_FILE = 'jvm-hosts';

/** A Hadoop configuration file: `<configuration>` with one `<property>` per entry, values XML-escaped. */
export function hadoopXml(props: Record<string, string | number | boolean>, comment?: string): string {
  const esc = (v: string) => v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const lines = ['<?xml version="1.0" encoding="UTF-8"?>'];
  if (comment) lines.push(`<!-- ${comment.replace(/--/g, '- -')} -->`);
  lines.push('<configuration>');
  for (const [name, value] of Object.entries(props)) {
    lines.push(`  <property><name>${esc(name)}</name><value>${esc(String(value))}</value></property>`);
  }
  lines.push('</configuration>', '');
  return lines.join('\n');
}

export interface HdfsClusterDirs {
  name: string;
  data: string;
  tmp: string;
}

export function coreSite(address: string, dirs: HdfsClusterDirs): Record<string, string> {
  return {
    'fs.defaultFS': `hdfs://${address}:${HDFS.rpcPort}`,
    'hadoop.tmp.dir': dirs.tmp,
  };
}

export function hdfsSite(address: string, dirs: HdfsClusterDirs): Record<string, string | number | boolean> {
  return {
    'dfs.namenode.rpc-address': `${address}:${HDFS.rpcPort}`,
    'dfs.namenode.http-address': `${address}:${HDFS.httpPort}`,
    'dfs.datanode.address': `${address}:${HDFS.dataNodePort}`,
    'dfs.datanode.http.address': `${address}:${HDFS.dataNodeHttpPort}`,
    'dfs.datanode.ipc.address': `${address}:${HDFS.dataNodeIpcPort}`,
    // WebHDFS redirects name the DataNode by this hostname: the datacenter's address, not the machine's name.
    'dfs.datanode.hostname': address,
    // The NameNode sees a loopback DataNode connect from 127.0.0.1 and cannot resolve its hostname back.
    'dfs.namenode.datanode.registration.ip-hostname-check': false,
    // Native clients with this conf dir reach the DataNode by that hostname too (it is recorded as 127.0.0.1).
    'dfs.client.use.datanode.hostname': true,
    'dfs.namenode.safemode.extension': 0,
    'dfs.replication': 1,
    // Each close waits this back-off before asking the NameNode again (400 ms by default: 1,000 small files took
    // ~200 s). The DataNode's own client writes WebHDFS uploads, so the cluster needs it as much as clients do.
    'dfs.client.block.write.locateFollowingBlock.initial.delay.ms': 20,
    // A close returns once the last block is committed by the client, without waiting for the DataNode's
    // incremental block report: with many small files written at once, those waits dominated every write.
    'dfs.namenode.file.close.num-committed-allowed': 1,
    'dfs.namenode.name.dir': `file://${dirs.name}`,
    'dfs.datanode.data.dir': `file://${dirs.data}`,
  };
}

/** Console logging (the sandbox sends stdout/stderr to the log file); per-operation chatter off. */
export const LOG4J = [
  '# cutover sandbox: everything to the console, which the sandbox writes to logs/hdfs-*.log',
  'log4j.rootLogger=INFO,console',
  'log4j.appender.console=org.apache.log4j.ConsoleAppender',
  'log4j.appender.console.target=System.err',
  'log4j.appender.console.layout=org.apache.log4j.PatternLayout',
  'log4j.appender.console.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n',
  'log4j.logger.org.apache.hadoop.hdfs.server.namenode.FSNamesystem.audit=WARN',
  'log4j.logger.org.apache.hadoop.hdfs.StateChange=WARN',
  'log4j.logger.org.apache.hadoop.hdfs.server.datanode.DataNode.clienttrace=WARN',
  'log4j.logger.org.apache.hadoop.hdfs.server.blockmanagement.BlockManager=WARN',
  'log4j.logger.BlockStateChange=WARN',
  'log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR',
  '',
].join('\n');

/**
 * The daemons' name service: the machine's /etc/hosts plus its own hostname, and nothing else. The clusters are
 * named by IP address, and every WebHDFS request makes the DataNode build a new DFSClient whose first NameNode call
 * asks for the NameNode address's name (a reverse lookup the JDK never caches): with no PTR record for 127.0.x.1 it
 * went to the resolver each time, measured here at 50 ms on average and up to 5 s (its timeout), ~35% of every
 * small-file write (jstack samples of the DataNode). Real clusters name their NameNodes; with this file the
 * lookup fails at once (0.6 ms) and the address is used as it is, as before.
 */
export function jvmHostsFile(etcHosts: string, hostname: string): string {
  const lines = ['# cutover sandbox: the HDFS daemons resolve names from this file only (-Djdk.net.hosts.file), see hdfs.ts', etcHosts.trim()];
  const known = etcHosts.split('\n').some((l) => l.replace(/#.*/, '').trim().split(/\s+/).slice(1).includes(hostname));
  if (!known) lines.push(`127.0.0.1 ${hostname}`);
  return `${lines.join('\n')}\n`;
}

/** JVM options of the daemons (not of clients, which need none of them). */
export function daemonJvmArgs(tmpDir: string, hostsFile?: string): string[] {
  return [
    '-Xmx512m',
    // Without it every WebHDFS call answers 500 until a restart (reflection into java.lang on JDK 17).
    '--add-opens', 'java.base/java.lang=ALL-UNNAMED',
    // Jetty unpacks its web apps here; the default would litter /tmp.
    `-Djava.io.tmpdir=${tmpDir}`,
    ...(hostsFile ? [`-Djdk.net.hosts.file=${hostsFile}`] : []),
  ];
}

interface NameNodeState {
  fsState: string; // "Operational" or "safeMode"
  liveDataNodes: number;
  files: number;
  blocks: number;
}

async function getJson(url: string, timeoutMs = 3000): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.json();
}

export function hdfs({ l }: Context, which: 'dc1' | 'dc2'): Component {
  const dirs = l[which].hdfs;
  const address = which === 'dc1' ? DC1 : DC2;
  const name = `hdfs-${which}`;
  const log = dirs.nameNodeLog;
  const http = `http://${address}:${HDFS.httpPort}`;
  const where = `hdfs://${address}:${HDFS.rpcPort}`;

  /** WebHDFS answers for / (the NameNode's HTTP server and its file system are up). */
  async function webhdfsRoot(): Promise<boolean> {
    try {
      const j = (await getJson(`${http}/webhdfs/v1/?op=GETFILESTATUS&user.name=${USER}`)) as { FileStatus?: { type?: string } };
      return j.FileStatus?.type === 'DIRECTORY';
    } catch {
      return false;
    }
  }

  async function nameNodeState(): Promise<NameNodeState | undefined> {
    try {
      const j = (await getJson(`${http}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState`)) as { beans?: Array<Record<string, unknown>> };
      const b = j.beans?.[0];
      if (!b) return undefined;
      return { fsState: String(b.FSState), liveDataNodes: Number(b.NumLiveDataNodes), files: Number(b.FilesTotal), blocks: Number(b.BlocksTotal) };
    } catch {
      return undefined;
    }
  }

  async function health(): Promise<Health> {
    const nn = livePid(dirs.nameNodePid, NAME_NODE_CLASS);
    const dn = livePid(dirs.dataNodePid, DATA_NODE_CLASS);
    if (!nn) return { ok: false, detail: 'NameNode not running', log };
    if (!dn) return { ok: false, detail: 'DataNode not running', pid: nn, log: dirs.dataNodeLog };
    if (!(await webhdfsRoot())) return { ok: false, detail: `${http}/webhdfs/v1/ does not answer GETFILESTATUS`, pid: nn, log };
    const s = await nameNodeState();
    if (!s) return { ok: false, detail: `${http}/jmx has no FSNamesystemState`, pid: nn, log };
    if (s.liveDataNodes < 1) return { ok: false, detail: `${where}: no live DataNode (DataNode pid ${dn})`, pid: nn, log: dirs.dataNodeLog };
    if (s.fsState !== 'Operational') return { ok: false, detail: `${where}: NameNode in ${s.fsState}`, pid: nn, log };
    return { ok: true, detail: `${where} (web :${HDFS.httpPort}), ${s.liveDataNodes} DataNode (pid ${dn}), ${s.files} files and dirs, ${s.blocks} blocks`, pid: nn, log };
  }

  /** The state tree and conf dir, owned by cutover (the daemons write name/data/tmp). */
  function writeConf(): void {
    const { uid, gid } = userIds();
    for (const d of [dirs.dir, dirs.conf, dirs.name, dirs.data, dirs.tmp]) {
      mkdirSync(d, { recursive: true });
      chownSync(d, uid, gid);
    }
    const comment = `cutover sandbox, HDFS ${which} on ${address}: rewritten by every sandbox:up (scripts/sandbox/hdfs.ts)`;
    const files: Record<string, string> = {
      'core-site.xml': hadoopXml(coreSite(address, dirs), comment),
      'hdfs-site.xml': hadoopXml(hdfsSite(address, dirs), comment),
      'log4j.properties': LOG4J,
      [HOSTS_FILE]: jvmHostsFile(readFileSync('/etc/hosts', 'utf8'), os.hostname()),
    };
    for (const [file, text] of Object.entries(files)) {
      const p = path.join(dirs.conf, file);
      writeFileSync(p, text);
      chownSync(p, uid, gid);
    }
  }

  const javaArgs = (cls: string, ...rest: string[]) => [...daemonJvmArgs(dirs.tmp, path.join(dirs.conf, HOSTS_FILE)), '-cp', `${dirs.conf}:${hadoopClasspath(l)}`, cls, ...rest];

  /** Only a NameNode that has never been formatted: formatting again would orphan every block on the DataNode. */
  async function formatOnce(): Promise<boolean> {
    if (existsSync(path.join(dirs.name, 'current', 'VERSION'))) return false;
    const code = await runLogged('java', javaArgs(NAME_NODE_CLASS, '-format', '-nonInteractive', '-clusterid', `cutover-${which}`), log, {
      asUser: true,
      cwd: dirs.dir,
    });
    if (code !== 0 || !existsSync(path.join(dirs.name, 'current', 'VERSION'))) {
      throw new SandboxError(name, `NameNode -format exited ${code}`, log);
    }
    return true;
  }

  async function startNameNode(): Promise<void> {
    for (const port of [HDFS.rpcPort, HDFS.httpPort]) await assertPortFree(name, address, port, log);
    await startServer({
      component: name, cmd: 'java', args: javaArgs(NAME_NODE_CLASS), logFile: log, pidFile: dirs.nameNodePid, asUser: true, cwd: dirs.dir,
      ready: webhdfsRoot, timeoutMs: 120_000, intervalMs: 250, notReady: `${http}/webhdfs/v1/ does not answer GETFILESTATUS`,
    });
  }

  async function startDataNode(): Promise<void> {
    for (const port of [HDFS.dataNodePort, HDFS.dataNodeHttpPort, HDFS.dataNodeIpcPort]) await assertPortFree(name, address, port, dirs.dataNodeLog);
    await startServer({
      component: name, cmd: 'java', args: javaArgs(DATA_NODE_CLASS), logFile: dirs.dataNodeLog, pidFile: dirs.dataNodePid, asUser: true, cwd: dirs.dir,
      ready: async () => ((await nameNodeState())?.liveDataNodes ?? 0) >= 1, timeoutMs: 120_000, intervalMs: 250,
      notReady: `no live DataNode registered with ${where}`,
    });
  }

  return {
    name,
    log,
    health,
    async up() {
      writeConf();
      const notes: string[] = [];
      if (await formatOnce()) notes.push('formatted');
      if (!livePid(dirs.nameNodePid, NAME_NODE_CLASS)) {
        await startNameNode();
        notes.push('NameNode started');
      } else if (!(await webhdfsRoot())) {
        // Alive but not answering (e.g. started without --add-opens by hand): restart it.
        await stopPidFile(dirs.nameNodePid, NAME_NODE_CLASS, 20_000);
        await startNameNode();
        notes.push('NameNode restarted');
      }
      if (!livePid(dirs.dataNodePid, DATA_NODE_CLASS)) {
        await startDataNode();
        notes.push('DataNode started');
      }
      // With blocks on disk the NameNode leaves safe mode once the DataNode has reported them.
      const state = await waitFor(async () => {
        const s = await nameNodeState();
        return s && s.fsState === 'Operational' && s.liveDataNodes >= 1 ? s : undefined;
      }, 120_000, 250);
      if (!state) throw new SandboxError(name, `${where} did not leave safe mode with a live DataNode in 120 s`, log);
      const h = await health();
      if (!h.ok) throw new SandboxError(name, h.detail, h.log ?? log);
      return { detail: h.detail, note: notes.length ? notes.join(', ') : 'already running' };
    },
    async down() {
      // DataNode first: stopped after its NameNode, it would spend its grace period retrying the connection.
      const dn = await stopPidFile(dirs.dataNodePid, DATA_NODE_CLASS, 20_000);
      const nn = await stopPidFile(dirs.nameNodePid, NAME_NODE_CLASS, 20_000);
      return dn || nn;
    },
  };
}
