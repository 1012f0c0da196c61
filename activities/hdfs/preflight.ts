// Preflight of the hdfs-dual-write move: read-only, every problem at once, each naming the plan's field and the
// cluster or host. Both NameNodes answer; each dataset's source exists; each dataset path on each cluster exists
// and is writable for the plan's user, or its nearest existing parent is (the first refresh creates it); the old
// cluster's paths are the user's own when they are to be frozen; the shadow jobs' output root is writable; the job
// hosts answer over SSH; block size and bytes per checksum on both clusters decide how refreshes are verified.
import { stat } from 'node:fs/promises';
import type { SshHost } from '../../workflows/shared/types';
import type { ActivityDeps } from '../deps';
import { Problems } from '../remote';
import { type FileStatus, normaliseHdfsPath, type ServerDefaults, WebHdfsClient, type WebHdfsCluster, WebHdfsError } from './webhdfs';

export type HdfsSide = 'old' | 'new';

export interface HdfsMoveDataset {
  name: string;
  source: { local: string } | { hdfs: string };
  paths: Record<HdfsSide, string>;
}

export interface HdfsMovePreflightInput {
  clusters: Record<HdfsSide, WebHdfsCluster>;
  datasets: HdfsMoveDataset[];
  /** Where job outputs go on both clusters (when the plan has jobs). */
  outputRoot?: string;
  jobHosts: Array<{ field: string; host: SshHost }>;
  verify: 'auto' | 'checksum' | 'streamed';
  /** The old cluster's dataset paths will be frozen: they must be the plan user's own. */
  freeze: boolean;
}

export interface HdfsClusterFacts {
  side: HdfsSide;
  name: string;
  blockSize: number;
  bytesPerChecksum: number;
  checksumType: number;
  replication: number;
}

export interface HdfsMovePreflightResult {
  clusters: HdfsClusterFacts[];
  /** How refreshes verify: HDFS file checksums (both clusters compute the same ones) or streamed SHA-256. */
  verify: 'checksum' | 'sha256';
  verifyWhy: string;
  datasets: Array<{ name: string; source: string; old: string; new: string }>;
  notes: string[];
}

const who = (c: WebHdfsCluster) => c.user ?? 'the delegation token\'s user';
const describeStatus = (s: FileStatus) => `owner ${s.owner}, group ${s.group}, permission ${s.permission}`;

/** The path itself, or its nearest existing parent: what a write there needs permission on. */
async function nearestExisting(client: WebHdfsClient, path: string): Promise<{ path: string; status: FileStatus; exists: boolean }> {
  let p = normaliseHdfsPath(path);
  let exists = true;
  for (;;) {
    const status = await client.stat(p);
    if (status) return { path: p, status, exists };
    exists = false;
    p = p.slice(0, p.lastIndexOf('/')) || '/';
  }
}

/**
 * Whether the plan's user can write at `path` (or create it): a problem naming `field` and the cluster if not.
 * Returns 'exists' or 'created on first use' for the summary.
 */
async function writable(client: WebHdfsClient, path: string, field: string, problems: Problems, opts: { ownerOf?: string; dataset?: string } = {}): Promise<string | undefined> {
  const c = client.cluster;
  const where = `${field} (${opts.dataset ? `dataset ${opts.dataset}, ` : ''}${c.name}:${path})`;
  return problems.check(where, async () => {
    const near = await nearestExisting(client, path);
    if (near.exists && near.status.type !== 'DIRECTORY') throw new Error(`is a ${near.status.type.toLowerCase()}, expected a directory`);
    if (!near.exists && near.status.type !== 'DIRECTORY') throw new Error(`${near.path} is a file: the path cannot be created under it`);
    try {
      await client.checkAccess(near.path, near.exists ? 'rwx' : '-wx');
    } catch (err) {
      if (err instanceof WebHdfsError && err.kind === 'permission') {
        throw new Error(`user ${who(c)} may not write ${near.exists ? 'in it' : `in ${near.path}, where it would be created`} (${describeStatus(near.status)})`);
      }
      throw err;
    }
    if (near.exists && opts.ownerOf && near.status.owner !== opts.ownerOf) {
      throw new Error(
        `owned by ${near.status.owner}, not ${opts.ownerOf}: the freeze takes the write bits of group and others off and cutover keeps writing as the owner, ` +
          `so the plan's user must own it (hdfs dfs -chown -R ${opts.ownerOf} ${path}) or set freeze: false`,
      );
    }
    return near.exists ? `exists (${describeStatus(near.status)})` : `created on the first refresh (under ${near.path})`;
  });
}

/** Both clusters compute the same file checksum for the same bytes only with the same block size, bytes per checksum and CRC. */
export function verifyMethod(chosen: HdfsMovePreflightInput['verify'], a?: ServerDefaults, b?: ServerDefaults): { verify: 'checksum' | 'sha256'; why: string } {
  if (chosen === 'streamed') return { verify: 'sha256', why: 'the plan says streamed' };
  const same = a && b && a.blockSize === b.blockSize && a.bytesPerChecksum === b.bytesPerChecksum && a.checksumType === b.checksumType;
  const settings = (d?: ServerDefaults) => (d ? `block ${d.blockSize}, ${d.bytesPerChecksum} bytes per checksum, CRC type ${d.checksumType}` : 'unknown');
  if (same) return { verify: 'checksum', why: `both clusters: ${settings(a)}` };
  const differ = `old ${settings(a)}; new ${settings(b)}`;
  if (chosen === 'checksum') return { verify: 'checksum', why: `the plan says checksum (each side against the source's checksum for its settings; ${differ})` };
  return { verify: 'sha256', why: `settings differ (${differ}): streamed SHA-256` };
}

export function createHdfsPreflightActivities(deps: Pick<ActivityDeps, 'withSsh'>) {
  return {
    /** Read-only checks of both clusters, the sources and the job hosts; every problem at once, nothing changed. */
    async hdfsPreflight(input: HdfsMovePreflightInput): Promise<HdfsMovePreflightResult> {
      const problems = new Problems();
      const clients = { old: new WebHdfsClient(input.clusters.old), new: new WebHdfsClient(input.clusters.new) };
      const defaults: Partial<Record<HdfsSide, ServerDefaults>> = {};
      for (const side of ['old', 'new'] as const) {
        const c = input.clusters[side];
        defaults[side] = await problems.check(`clusters.${side} (${c.name}, NameNode ${c.url})`, async () => {
          try {
            return await clients[side].getServerDefaults();
          } catch (err) {
            if (err instanceof WebHdfsError && err.kind === 'unreachable') throw new Error(`NameNode unreachable: ${err.detail}`);
            throw err;
          }
        });
      }
      const up = (side: HdfsSide) => defaults[side] !== undefined;
      const datasets: HdfsMovePreflightResult['datasets'] = [];
      for (const [i, d] of input.datasets.entries()) {
        const at = `datasets[${i}]`;
        let source = '';
        if ('local' in d.source) {
          const dir = d.source.local;
          source = (await problems.check(`${at}.source.local (dataset ${d.name}, ${dir} on the worker)`, async () => {
            const s = await stat(dir).catch((err: NodeJS.ErrnoException) => {
              throw new Error(err.code === 'ENOENT' ? 'does not exist' : `cannot be read: ${err.code ?? err.message}`);
            });
            if (!s.isDirectory()) throw new Error('is not a directory');
            return `local ${dir}`;
          })) ?? '';
        } else if (up('old')) {
          const p = d.source.hdfs;
          source = (await problems.check(`${at}.source.hdfs (dataset ${d.name}, ${input.clusters.old.name}:${p})`, async () => {
            const s = await clients.old.stat(p);
            if (!s) throw new Error('does not exist');
            if (s.type !== 'DIRECTORY') throw new Error('is not a directory');
            await clients.old.checkAccess(p, 'r-x').catch((err) => {
              throw err instanceof WebHdfsError && err.kind === 'permission' ? new Error(`user ${who(input.clusters.old)} may not read it (${describeStatus(s)})`) : err;
            });
            return `${input.clusters.old.name}:${p}`;
          })) ?? '';
        }
        const state: Record<HdfsSide, string> = { old: '', new: '' };
        for (const side of ['old', 'new'] as const) {
          if (!up(side)) continue;
          const ownerOf = side === 'old' && input.freeze ? input.clusters.old.user : undefined;
          state[side] = (await writable(clients[side], d.paths[side], `${at}.paths.${side}`, problems, { ownerOf, dataset: d.name })) ?? '';
        }
        datasets.push({ name: d.name, source, ...state });
      }
      if (input.outputRoot) {
        for (const side of ['old', 'new'] as const) if (up(side)) await writable(clients[side], input.outputRoot, `shadow.outputRoot on ${side}`, problems);
      }
      for (const { field, host } of input.jobHosts) {
        await problems.check(`${field} (${host.name} ${host.address}:${host.port})`, () => deps.withSsh(host, async (c) => (await c.exec('true')).code));
      }
      problems.throwIfAny();
      const { verify, why } = verifyMethod(input.verify, defaults.old, defaults.new);
      const facts = (['old', 'new'] as const).map((side) => {
        const d = defaults[side]!;
        return { side, name: input.clusters[side].name, blockSize: d.blockSize, bytesPerChecksum: d.bytesPerChecksum, checksumType: d.checksumType, replication: d.replication };
      });
      return { clusters: facts, verify, verifyWhy: why, datasets, notes: [] };
    },
  };
}
