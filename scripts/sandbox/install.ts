// Installs what the sandbox runs, once per machine: Debian packages with apt-get, the Temporal CLI and the GCS
// emulator with `go install` into GOPATH/bin (GOPATH and the build cache make a warm machine skip the build), Hadoop's
// jars with Maven into a machine-wide cache (a warm machine reads the cached classpath and resolves nothing).
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Tools } from './component';
import { HADOOP_VERSION, type Layout } from './layout';
import { runLogged, SandboxError, sleep, tryRun } from './process';

export const APT_PACKAGES = [
  'redis-server',
  'bind9',
  'bind9-dnsutils',
  'openssh-server',
  'openssh-client',
  'rsync',
  'postgresql-15',
  'iproute2',
  // The partition tests cut one dc1↔dc2 link on lo with it (rules removed by the test).
  'iptables',
  // The sandbox CA and the PostgreSQL servers' certificates (scripts/sandbox/tls.ts).
  'openssl',
  // HDFS: the daemons and Hadoop's own client tools run on Java 17; Maven resolves Hadoop's jars.
  'openjdk-17-jre-headless',
  'maven',
];

export const GO_TOOLS = {
  temporal: 'github.com/temporalio/cli/cmd/temporal@v1.5.1',
  fakeGcsServer: 'github.com/fsouza/fake-gcs-server@v1.55.1',
} as const;

function missingPackages(): string[] {
  return APT_PACKAGES.filter((pkg) => {
    const r = tryRun('dpkg-query', ['-W', '-f=${Status}', pkg]);
    return r.code !== 0 || !r.stdout.includes('install ok installed');
  });
}

/** apt-get installs the missing packages; `apt-get update` runs only when something is missing. */
export async function ensurePackages(log: string): Promise<string> {
  const missing = missingPackages();
  if (missing.length === 0) return 'all present';
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  // The packages' maintainer scripts would start system-wide redis, named and a PostgreSQL cluster on the
  // default ports; the sandbox runs its own. policy-rc.d = 101 tells invoke-rc.d not to start services.
  const policy = '/usr/sbin/policy-rc.d';
  const ownPolicy = !existsSync(policy);
  if (ownPolicy) writeFileSync(policy, '#!/bin/sh\nexit 101\n', { mode: 0o755 });
  try {
    if ((await runLogged('apt-get', ['update'], log, { env })) !== 0) {
      throw new SandboxError('packages', 'apt-get update failed', log);
    }
    const args = ['install', '-y', '--no-install-recommends', ...missing];
    if ((await runLogged('apt-get', args, log, { env })) !== 0) {
      throw new SandboxError('packages', `apt-get install ${missing.join(' ')} failed`, log);
    }
  } finally {
    if (ownPolicy) rmSync(policy, { force: true });
  }
  const still = missingPackages();
  if (still.length) throw new SandboxError('packages', `still missing after apt-get: ${still.join(' ')}`, log);
  return `installed ${missing.join(', ')}`;
}

function goBinary(): string {
  if (tryRun('go', ['version']).code === 0) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new SandboxError('tools', 'no Go toolchain on PATH (needed to build the Temporal CLI and fake-gcs-server)');
}

function goBinDir(go: string): string {
  const [gobin, gopath] = tryRun(go, ['env', 'GOBIN', 'GOPATH']).stdout.split('\n');
  if (gobin?.trim()) return gobin.trim();
  return path.join((gopath ?? '').split(':')[0] || path.join(process.env.HOME ?? '/root', 'go'), 'bin');
}

/** A `go install` of the same module already running on this machine (another shell, a provisioning script). */
function concurrentInstall(modulePath: string): number | undefined {
  const bare = modulePath.split('@')[0];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const i = args.indexOf('install');
      if (i > 0 && path.basename(args[0]) === 'go' && args.slice(i + 1).some((a) => a.split('@')[0] === bare)) {
        return Number(entry);
      }
    } catch {
      // exited meanwhile
    }
  }
  return undefined;
}

async function ensureGoTool(
  go: string,
  binDir: string,
  name: string,
  modulePath: string,
  log: string,
  progress: (line: string) => void,
): Promise<'cached' | 'built'> {
  const bin = path.join(binDir, name);
  if (existsSync(bin)) return 'cached';
  const other = concurrentInstall(modulePath);
  if (other !== undefined) {
    progress(`… tools: waiting for the \`go install ${modulePath}\` already running (pid ${other})`);
    while (existsSync(`/proc/${other}`)) await sleep(1000);
    if (existsSync(bin)) return 'built';
  }
  progress(`… tools: go install ${modulePath} (a few minutes on a cold machine; log ${log})`);
  if ((await runLogged(go, ['install', modulePath], log)) !== 0 || !existsSync(bin)) {
    throw new SandboxError('tools', `go install ${modulePath} failed`, log);
  }
  return 'built';
}

export async function ensureTools(log: string, progress: (line: string) => void): Promise<{ tools: Tools; note: string }> {
  const go = goBinary();
  const binDir = goBinDir(go);
  const temporal = await ensureGoTool(go, binDir, 'temporal', GO_TOOLS.temporal, log, progress);
  const gcs = await ensureGoTool(go, binDir, 'fake-gcs-server', GO_TOOLS.fakeGcsServer, log, progress);
  const built = [temporal === 'built' && 'temporal', gcs === 'built' && 'fake-gcs-server'].filter(Boolean);
  return {
    tools: { temporal: path.join(binDir, 'temporal'), fakeGcsServer: path.join(binDir, 'fake-gcs-server') },
    note: built.length ? `built ${built.join(', ')}` : 'cached',
  };
}

/** Tool paths without installing anything (for status and down). */
export function findTools(): Tools {
  let binDir: string;
  try {
    binDir = goBinDir(goBinary());
  } catch {
    binDir = path.join(process.env.HOME ?? '/root', 'go', 'bin');
  }
  return { temporal: path.join(binDir, 'temporal'), fakeGcsServer: path.join(binDir, 'fake-gcs-server') };
}

/**
 * Everything the sandbox's HDFS runs from: the daemons (hadoop-minicluster pulls in hadoop-hdfs and its
 * dependencies), DistCp and the example jobs for the data move's jobs and benchmark baseline. JUnit because
 * minicluster classes reference org.junit.Assert at load time.
 */
export function hadoopPom(version = HADOOP_VERSION): string {
  const dep = (g: string, a: string, v: string) =>
    `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<!-- cutover sandbox: the classpath of the HDFS daemons and Hadoop client tools (written by install.ts) -->',
    '<project xmlns="http://maven.apache.org/POM/4.0.0">',
    '  <modelVersion>4.0.0</modelVersion>',
    '  <groupId>cutover.sandbox</groupId>',
    '  <artifactId>hadoop-classpath</artifactId>',
    '  <version>1</version>',
    '  <packaging>pom</packaging>',
    '  <dependencies>',
    dep('org.apache.hadoop', 'hadoop-minicluster', version),
    dep('org.apache.hadoop', 'hadoop-distcp', version),
    dep('org.apache.hadoop', 'hadoop-mapreduce-examples', version),
    dep('junit', 'junit', '4.13.2'),
    '  </dependencies>',
    '</project>',
    '',
  ].join('\n');
}

/** The cached classpath if it was resolved from this pom and every jar it names is still there. */
function cachedClasspath(l: Layout, pom: string): string | undefined {
  try {
    if (readFileSync(l.hadoop.pom, 'utf8') !== pom) return undefined;
    const cp = readFileSync(l.hadoop.classpath, 'utf8').trim();
    const jars = cp.split(':');
    return jars.length > 10 && jars.every((j) => existsSync(j)) ? cp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Resolves Hadoop's jars from Maven Central into HADOOP_CACHE/repository and writes the classpath file (one line
 * of ':'-separated jars); a warm machine only reads it back. Measured cold: ~17-30 s, 186 jars, ~125 MiB.
 */
export async function ensureHadoop(l: Layout, log: string, progress: (line: string) => void): Promise<string> {
  const pom = hadoopPom();
  if (cachedClasspath(l, pom)) return 'cached';
  if (tryRun('mvn', ['-v']).code !== 0) throw new SandboxError('hadoop', 'no `mvn` on PATH (Debian package maven)');
  mkdirSync(l.hadoop.dir, { recursive: true });
  chmodSync(l.hadoop.dir, 0o755); // the daemons run as cutover and read the jars
  writeFileSync(l.hadoop.pom, pom);
  progress(`… hadoop: resolving Hadoop ${HADOOP_VERSION} from Maven Central into ${l.hadoop.repository} (about 30 s cold; log ${log})`);
  const started = Date.now();
  // Written beside the final file and renamed: a concurrent `up` (another state dir) never reads half a line.
  const out = `${l.hadoop.classpath}.${process.pid}.tmp`;
  const args = ['-B', '-q', '-f', l.hadoop.pom, `-Dmaven.repo.local=${l.hadoop.repository}`, 'dependency:build-classpath', `-Dmdep.outputFile=${out}`];
  const code = await runLogged('mvn', args, log, { cwd: l.hadoop.dir });
  if (code !== 0 || !existsSync(out)) throw new SandboxError('hadoop', `mvn ${args.join(' ')} exited ${code}`, log);
  renameSync(out, l.hadoop.classpath);
  const cp = cachedClasspath(l, pom);
  if (!cp) throw new SandboxError('hadoop', `${l.hadoop.classpath} names jars that are not there after mvn`, log);
  return `resolved ${cp.split(':').length} jars in ${((Date.now() - started) / 1000).toFixed(0)} s`;
}

/** The resolved classpath (after ensureHadoop). */
export function hadoopClasspath(l: Layout): string {
  try {
    return readFileSync(l.hadoop.classpath, 'utf8').trim();
  } catch {
    throw new SandboxError('hadoop', `no Hadoop classpath at ${l.hadoop.classpath}: \`npm run sandbox:up\` resolves it`);
  }
}
