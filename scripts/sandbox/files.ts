// The demo asset tree in dc1 and the empty target in dc2. Generated from a fixed seed, so every machine has the
// same bytes (and the same mtimes: rsync's quick check compares size and mtime) and a checksum test can be
// written once.
import { chownSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Component, Context, Health } from './component';
import { fencedPath } from '../../workflows/shared/fence';
import { SandboxError, userIds } from './process';

const FILE_COUNT = 320;
const MTIME = new Date('2024-01-01T00:00:00Z').getTime() / 1000;

/** mulberry32: a tiny deterministic PRNG (Math.random cannot be seeded). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOP = ['images', 'documents', 'exports', 'archive', 'config'];
const MID = ['2023', '2024', 'eu-west', 'us-east', 'shared', 'team-a', 'team-b'];
const LEAF = ['raw', 'processed', 'thumbs', 'v1', 'v2', 'tmp-keep'];
const WORDS = 'cutover migration replica standby primary switch traffic verify gate rollback durable asset checksum'.split(' ');

function generate(root: string): { files: number; bytes: number } {
  const rnd = prng(0xc07e);
  const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)];
  let bytes = 0;
  for (let i = 0; i < FILE_COUNT; i++) {
    const depth = 1 + Math.floor(rnd() * 3);
    const dirs = [pick(TOP), pick(MID), pick(LEAF)].slice(0, depth);
    const kind = i === 0 ? 'empty' : rnd() < 0.35 ? 'bin' : rnd() < 0.5 ? 'json' : 'txt';
    let content: Buffer;
    if (kind === 'empty') {
      content = Buffer.alloc(0);
    } else if (kind === 'bin') {
      const length = 2048 + Math.floor(rnd() * 46 * 1024);
      const buf = Buffer.alloc(Math.ceil(length / 4) * 4);
      for (let j = 0; j < buf.length; j += 4) buf.writeUInt32LE((rnd() * 2 ** 32) >>> 0, j);
      content = buf.subarray(0, length);
    } else if (kind === 'json') {
      const rows = Array.from({ length: 2 + Math.floor(rnd() * 40) }, (_, k) => ({ id: `${i}-${k}`, tag: pick(WORDS), n: Math.floor(rnd() * 1e6) }));
      content = Buffer.from(`${JSON.stringify({ file: i, rows }, null, 2)}\n`);
    } else {
      const words = Array.from({ length: 20 + Math.floor(rnd() * 900) }, () => pick(WORDS));
      content = Buffer.from(`${words.join(' ')}\n`);
    }
    const ext = kind === 'empty' ? 'txt' : kind;
    const file = path.join(root, ...dirs, `asset-${String(i).padStart(4, '0')}.${ext}`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    utimesSync(file, MTIME + i, MTIME + i);
    bytes += content.length;
  }
  return { files: FILE_COUNT, bytes };
}

function walk(root: string, visit: (p: string, isDir: boolean) => void): void {
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = path.join(root, e.name);
    if (e.isDirectory()) walk(p, visit);
    visit(p, e.isDirectory());
  }
}

function countFiles(root: string): number {
  let n = 0;
  walk(root, (_, isDir) => {
    if (!isDir) n++;
  });
  return n;
}

export function files({ l }: Context): Component {
  const log = path.join(l.logs, 'files.log');
  const source = l.dc1.assets;
  const target = l.dc2.assets;

  /** A completed file-sync move (the demo's) fences the tree: renamed aside, a marker file at its path. */
  const fenced = fencedPath(source);
  const isFenced = () => existsSync(fenced) && !(existsSync(source) && statSync(source).isDirectory());

  async function health(): Promise<Health> {
    if (isFenced()) return { ok: false, detail: `${source} fenced by a completed move (its tree at ${fenced}; up puts it back)`, log };
    if (!existsSync(source)) return { ok: false, detail: `${source} missing`, log };
    if (!existsSync(target)) return { ok: false, detail: `${target} missing`, log };
    return { ok: true, detail: `dc1/assets ${countFiles(source)} files, dc2/assets ${countFiles(target)} files`, log };
  }

  return {
    name: 'files',
    log,
    health,
    async up() {
      const { uid, gid } = userIds();
      let note = 'present';
      if (isFenced()) {
        // Put the demo tree back (the demo does the same before each run), so tests and the demo find it.
        rmSync(source, { force: true });
        renameSync(fenced, source);
        note = `put back from ${fenced} (a completed move had fenced it)`;
      }
      if (!existsSync(source)) {
        // Build beside it and rename: an interrupted run never leaves a half tree that looks complete.
        const tmp = `${source}.tmp-${process.pid}`;
        rmSync(tmp, { recursive: true, force: true });
        try {
          const { files: n, bytes } = generate(tmp);
          walk(tmp, (p) => chownSync(p, uid, gid));
          chownSync(tmp, uid, gid);
          renameSync(tmp, source);
          note = `generated ${n} files, ${(bytes / 1024 / 1024).toFixed(1)} MiB`;
        } catch (err) {
          rmSync(tmp, { recursive: true, force: true });
          writeFileSync(log, `${new Date().toISOString()} ${String(err)}\n`, { flag: 'a' });
          throw new SandboxError('files', `could not generate ${source}: ${(err as Error).message}`, log);
        }
      }
      if (!existsSync(target)) {
        mkdirSync(target, { recursive: true });
        chownSync(target, uid, gid);
      }
      return { detail: `dc1/assets ${countFiles(source)} files → dc2/assets`, note };
    },
  };
}
