// Where a dataset comes from: a directory tree on the worker, or a path on an HDFS cluster read with OPEN. Either
// lists its files, streams one, and gives its checksum as a given cluster would compute it.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { checksumParams, type ChecksumParams, type FileChecksum, HdfsChecksum } from './checksum';
import { joinHdfsPath, type WebHdfsClient } from './webhdfs';

export interface DatasetFile {
  /** Relative to the dataset's root, `/`-separated: `2026/11/part-00000`. */
  path: string;
  length: number;
  /** The block size an HDFS source file was written with (kept on the copies so checksums stay comparable). */
  blockSize?: number;
}

export interface Dataset {
  describe: string;
  /** True if opening a file again costs little (a local file): sides may then read it each on their own. */
  cheapToReopen?: boolean;
  list(signal?: AbortSignal): Promise<DatasetFile[]>;
  open(file: DatasetFile, signal?: AbortSignal): Promise<Readable>;
  /** The file's checksum as a cluster with `params` reports it. */
  checksum(file: DatasetFile, params: ChecksumParams, signal?: AbortSignal): Promise<FileChecksum>;
}

/** Files an interrupted copy leaves behind (FsShell's `._COPYING_` and cutover's hidden temp): never data. */
export const isTempName = (name: string) => name.endsWith('._COPYING_');

export const paramsKey = (p: ChecksumParams) => `${p.blockSize}/${p.bytesPerChecksum}/${p.crcType}`;

/** Reads a stream through an HdfsChecksum. */
export async function checksumOfStream(stream: Readable, params: ChecksumParams): Promise<FileChecksum> {
  const c = new HdfsChecksum(params);
  for await (const chunk of stream) c.update(chunk as Buffer);
  return c.digest();
}

export async function sha256OfStream(stream: Readable): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** A directory tree on the worker: regular files only (symlinks and empty directories are not part of it). */
export function localDataset(dir: string): Dataset & { remember(file: DatasetFile, params: ChecksumParams, c: FileChecksum): void } {
  const known = new Map<string, FileChecksum>();
  const key = (file: DatasetFile, params: ChecksumParams) => `${file.path}|${file.length}|${paramsKey(params)}`;
  return {
    describe: `local ${dir}`,
    cheapToReopen: true,
    async list() {
      const out: DatasetFile[] = [];
      const visit = async (abs: string, rel: string) => {
        for (const e of await readdir(abs, { withFileTypes: true })) {
          const childRel = rel ? `${rel}/${e.name}` : e.name;
          if (e.isDirectory()) await visit(path.join(abs, e.name), childRel);
          else if (e.isFile() && !isTempName(e.name)) out.push({ path: childRel, length: (await stat(path.join(abs, e.name))).size });
        }
      };
      await visit(dir, '');
      return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },
    async open(file) {
      return createReadStream(path.join(dir, ...file.path.split('/')), { highWaterMark: 1 << 20 });
    },
    async checksum(file, params) {
      const k = key(file, params);
      let c = known.get(k);
      if (!c) {
        c = await checksumOfStream(createReadStream(path.join(dir, ...file.path.split('/')), { highWaterMark: 1 << 20 }), params);
        known.set(k, c);
      }
      return c;
    },
    /** A checksum computed while the bytes went out: verify then needs no second read. */
    remember(file, params, c) {
      known.set(key(file, params), c);
    },
  };
}

/** A path on an HDFS cluster: GETFILECHECKSUM when the asked parameters are its own, else computed over OPEN. */
export function hdfsDataset(client: WebHdfsClient, root: string): Dataset {
  const own = new Map<string, FileChecksum>();
  return {
    describe: `hdfs ${client.cluster.name}:${root}`,
    async list(signal) {
      const files = await client.walkFiles(root, { signal });
      return files
        .filter((f) => !isTempName(f.path.split('/').pop() ?? ''))
        .map((f) => ({ path: f.path, length: f.status.length, blockSize: f.status.blockSize }))
        .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    },
    open(file, signal) {
      return client.open(joinHdfsPath(root, file.path), { signal });
    },
    async checksum(file, params, signal) {
      const p = joinHdfsPath(root, file.path);
      let c = own.get(p);
      if (!c) {
        c = await client.getFileChecksum(p, { signal });
        own.set(p, c);
      }
      const mine = checksumParams(c);
      const same = file.length === 0 || (mine && file.blockSize === params.blockSize && mine.bytesPerChecksum === params.bytesPerChecksum && mine.crcType === params.crcType);
      return same ? c : checksumOfStream(await client.open(p, { signal }), params);
    },
  };
}
