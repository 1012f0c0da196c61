// Installs what the sandbox runs, once per machine: Debian packages with apt-get, the Temporal CLI and the GCS
// emulator with `go install` into GOPATH/bin (GOPATH and the build cache make a warm machine skip the build).
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Tools } from './component';
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
