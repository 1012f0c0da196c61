// The freeze of the hdfs-dual-write move and the final parity check.
//
// Freeze: writers other than cutover are held off the old cluster's dataset paths by HDFS permissions: the write
// bits of group and others come off every directory and file below them (chmod go-w), and cutover keeps writing
// there as their owner during the soak (so the way back is a DNS switch with nothing lost). What had those bits is
// read first, as data: the undo puts exactly those permissions back. Both directions are idempotent.
//
// Parity: every dataset compared between the two clusters, file list, sizes and content (file checksums where
// both clusters' settings allow, else streamed SHA-256).
import { cancellationSignal } from '@temporalio/activity';
import { keepBeating } from '../remote/heartbeat';
import { compareOutputs, type CompareResult } from './compare';
import { hdfsFailure } from './failures';
import { joinHdfsPath, WebHdfsClient, type WebHdfsCluster } from './webhdfs';

export interface PermissionEntry {
  path: string;
  /** Octal, as HDFS reports it (`775`, `1777`). */
  permission: string;
}

/** Whether group or others may write (the bits the freeze takes off). */
export const writableByOthers = (permission: string) => (parseInt(permission, 8) & 0o022) !== 0;
/** The same permission without the write bits of group and others. */
export const withoutOthersWrite = (permission: string) => (parseInt(permission, 8) & ~0o022).toString(8);

/** Every path at or below `root` (directories and files) whose group or others may write; nothing if it does not exist. */
async function writableBelow(client: WebHdfsClient, root: string, found: PermissionEntry[], progress: { seen: number }, signal: AbortSignal): Promise<void> {
  const top = await client.stat(root, { signal });
  if (!top) return;
  if (writableByOthers(top.permission)) found.push({ path: root, permission: top.permission });
  if (top.type !== 'DIRECTORY') return;
  const visit = async (dir: string) => {
    for await (const page of client.listPages(dir, { signal })) {
      for (const s of page) {
        progress.seen++;
        const p = joinHdfsPath(dir, s.pathSuffix);
        if (writableByOthers(s.permission)) found.push({ path: p, permission: s.permission });
        if (s.type === 'DIRECTORY') await visit(p);
      }
    }
  };
  await visit(root);
}

export interface DatasetParity {
  name: string;
  equal: boolean;
  files: number;
  bytes: number;
  /** One line: what differs (the first few paths), or `identical`. */
  detail: string;
}

function parityDetail(r: CompareResult): string {
  if (r.equal) return `identical (${r.byChecksum} by checksum, ${r.bySha256} by SHA-256)`;
  const parts = [
    r.onlyInA.length ? `only on old: ${r.onlyInA.slice(0, 3).join(', ')}${r.onlyInA.length > 3 ? ` (+${r.onlyInA.length - 3})` : ''}` : '',
    r.onlyInB.length ? `only on new: ${r.onlyInB.slice(0, 3).join(', ')}${r.onlyInB.length > 3 ? ` (+${r.onlyInB.length - 3})` : ''}` : '',
    r.sizeDiffers.length ? `size differs: ${r.sizeDiffers.slice(0, 3).map((d) => `${d.path} ${d.a}/${d.b}`).join(', ')}` : '',
    r.differing.length ? `content differs: ${r.differing.slice(0, 3).map((d) => d.path).join(', ')}` : '',
  ];
  return parts.filter(Boolean).join('; ');
}

export function createHdfsFreezeActivities() {
  return {
    /** Read-only: what the freeze would change under `paths` on `cluster` (the undo restores exactly this). */
    async hdfsWritableByOthers(input: { cluster: WebHdfsCluster; paths: string[] }): Promise<PermissionEntry[]> {
      const progress = { seen: 0 };
      const stop = keepBeating(() => progress);
      try {
        const client = new WebHdfsClient(input.cluster);
        const found: PermissionEntry[] = [];
        for (const root of input.paths) await writableBelow(client, root, found, progress, cancellationSignal());
        return found;
      } catch (err) {
        throw hdfsFailure(err, `hdfs permissions under ${input.paths.join(', ')} on ${input.cluster.name}`);
      } finally {
        stop();
      }
    },

    /**
     * Sets each path's permission (the freeze: without go-w; the undo: as it was). Idempotent; a path gone since
     * it was read is counted, not an error.
     */
    async hdfsSetPermissions(input: { cluster: WebHdfsCluster; entries: PermissionEntry[] }): Promise<{ set: number; gone: number }> {
      const progress = { set: 0, gone: 0 };
      const stop = keepBeating(() => progress);
      try {
        const client = new WebHdfsClient(input.cluster);
        for (const e of input.entries) {
          try {
            await client.setPermission(e.path, e.permission, { signal: cancellationSignal() });
            progress.set++;
          } catch (err) {
            if ((err as { kind?: string }).kind !== 'not-found') throw err;
            progress.gone++;
          }
        }
        return progress;
      } catch (err) {
        throw hdfsFailure(err, `hdfs set permissions on ${input.cluster.name}`);
      } finally {
        stop();
      }
    },

    /** Every dataset compared between the clusters (list, sizes, content); differences are a result. */
    async hdfsParity(input: { old: WebHdfsCluster; new: WebHdfsCluster; datasets: Array<{ name: string; paths: { old: string; new: string } }>; method: 'auto' | 'sha256' }): Promise<DatasetParity[]> {
      let current = '';
      const stop = keepBeating(() => ({ comparing: current }));
      try {
        const out: DatasetParity[] = [];
        for (const d of input.datasets) {
          current = d.name;
          const r = await compareOutputs({ cluster: input.old, path: d.paths.old }, { cluster: input.new, path: d.paths.new }, { method: input.method, ignore: [], signal: cancellationSignal() });
          out.push({ name: d.name, equal: r.equal, files: r.files, bytes: r.bytes, detail: parityDetail(r) });
        }
        return out;
      } catch (err) {
        throw hdfsFailure(err, `hdfs parity of ${current}`);
      } finally {
        stop();
      }
    },
  };
}
