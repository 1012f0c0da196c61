// Verifying a copied tree, in two halves so the freeze stays short on a large tree:
//   verifyLive    while writers run, before the gate: every file compared by checksum on both sides (rsync dry
//                 run). Differences a live writer explains (new, deleted, resized or re-timed files) are left to
//                 the final sync; a file whose content differs at the same size and time is a wrong copy (rsync's
//                 quick check would never fix it), looked at twice to rule out a write in between, and fails the run.
//   verifyFrozen  inside the freeze, after the final sync: the files that sync changed, by checksum on both
//                 sides, and the whole tree by metadata (type, permissions, size, time of every entry, rsync's own
//                 listing with the plan's excludes), both hosts at once. Any difference fails the run.
// verifyTrees (every file by checksum inside the freeze) is what runs recorded before the split replay.
import { cancellationSignal } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { shq, type SshConnection } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { keepBeating, onHost, privateTempDir, RUN_DIR } from '../remote';
import { changesLog, type RsyncPassInput } from './copy';
import { changedFiles, itemizedDifferences, parseStats, rsyncCommand, unexplainedDifferences, type TreeEndpoint } from './rsync';

export interface VerifyLiveResult {
  files: number;
  bytes: number;
  /** Files that differ because of writes since the last pass: the final sync copies them. */
  changedSinceLastPass: number;
  durationMs: number;
  verifiedAt: string;
}

export interface VerifyFrozenResult {
  /** Regular files and bytes in the compared listings (the same on both sides). */
  files: number;
  bytes: number;
  /** Entries (files, directories, links) compared by metadata. */
  entries: number;
  /** Files the final sync changed, compared by checksum. */
  checksummedFiles: number;
  durationMs: number;
  verifiedAt: string;
}

type VerifyInput = Omit<RsyncPassInput, 'pass' | 'delete' | 'bandwidthLimitKBps'>;

/**
 * Shell: in the tree's root, rsync's listing of the tree with the plan's excludes, directory sizes blanked (they
 * depend on a directory's history, not its content) and digit grouping removed; then one line of figures:
 * `digest entries files bytes`. With `sums`, the checksums of the listed files (stdin, one path a line) follow:
 * `digest count`.
 */
function treeFacts(root: string, exclude: string[], sums: boolean, full: boolean): string {
  const excludes = exclude.map((e) => `--exclude=${shq(e)}`).join(' ');
  const listing =
    `rsync -a --list-only ${excludes} ./ | ` +
    `awk '{ if ($1 ~ /^d/) $2 = "-"; else gsub(",", "", $2); print }'`;
  const figures = `awk '{ e++; if ($1 ~ /^-/) { f++; b += $2 } } END { printf "%d %d %.0f\\n", e, f, b }'`;
  const lines = [`cd -- ${shq(root)} || exit 3`, `${listing} > "$t/list" || exit 4`];
  lines.push(`echo "$(sha256sum < "$t/list" | cut -c1-64) $(${figures} "$t/list")"`);
  if (sums) lines.push(`cat > "$t/changed"; xargs -r -d '\\n' sha256sum -- < "$t/changed" > "$t/sums" || exit 5; echo "$(sha256sum < "$t/sums" | cut -c1-64) $(wc -l < "$t/sums")"`);
  if (full) lines.push(`echo ---; cat "$t/list"; echo ---; ${sums ? 'cat "$t/sums"' : 'true'}`);
  return `${RUN_DIR}; ${privateTempDir('t', 'verify')}; trap 'rm -rf "$t"' EXIT; ${lines.join('; ')}`;
}

interface Facts {
  listDigest: string;
  entries: number;
  files: number;
  bytes: number;
  sumsDigest?: string;
  sums?: number;
  list?: string[];
  sumLines?: string[];
}

function parseFacts(out: string): Facts {
  const [head, ...rest] = out.split('\n---\n');
  const [first, second] = head.trim().split('\n');
  const [listDigest, entries, files, bytes] = first.split(' ');
  const facts: Facts = { listDigest, entries: Number(entries), files: Number(files), bytes: Number(bytes) };
  if (second) {
    const [d, n] = second.split(' ');
    facts.sumsDigest = d;
    facts.sums = Number(n);
  }
  if (rest.length) {
    facts.list = rest[0].split('\n').filter(Boolean);
    facts.sumLines = (rest[1] ?? '').split('\n').filter(Boolean);
  }
  return facts;
}

async function factsOf(c: SshConnection, where: TreeEndpoint, exclude: string[], changed: string[] | null, full: boolean): Promise<Facts> {
  const r = await c.exec(treeFacts(where.path, exclude, changed !== null, full), {
    signal: cancellationSignal(),
    allowFailure: true,
    stdin: changed ? changed.map((f) => `${f}\n`).join('') : undefined,
  });
  if (r.code !== 0) {
    throw ApplicationFailure.nonRetryable(`cannot list ${where.host.name}:${where.path} (exit ${r.code}): ${r.stderr.trim().slice(-500)}`, ErrorType.VerificationFailed);
  }
  return parseFacts(r.stdout);
}

/** Lines in one listing and not the other, each side marked: what an operator looks at first. */
function listingDifferences(a: string[], b: string[], la: string, lb: string): string[] {
  const inB = new Set(b);
  const inA = new Set(a);
  return [...a.filter((l) => !inB.has(l)).map((l) => `${la}: ${l}`), ...b.filter((l) => !inA.has(l)).map((l) => `${lb}: ${l}`)];
}

export interface VerifyTreesResult {
  identical: boolean;
  files: number;
  bytes: number;
  differences: string[];
  verifiedAt: string;
}

export function createVerifyActivities(deps: ActivityDeps) {
  return {
    /** File lists, sizes and checksums of every file compared by rsync in dry-run checksum mode. */
    async verifyTrees(input: Omit<RsyncPassInput, 'pass' | 'delete' | 'bandwidthLimitKBps'>): Promise<VerifyTreesResult> {
      // Checksumming a large tree on both sides takes minutes, and rsync prints nothing until it is done:
      // heartbeat on a clock (also what delivers a cancellation), with how long it has been going.
      const started = Date.now();
      const stop = keepBeating(() => ({ stage: 'verifying', seconds: Math.round((Date.now() - started) / 1000) }));
      let output;
      try {
        output = await onHost(deps, input.source.host, 'verify', (c) =>
          c.exec(rsyncCommand({ ...input, delete: true, bandwidthLimitKBps: 0 }, 'verify'), { signal: cancellationSignal() }),
        );
      } finally {
        stop();
      }
      const stats = parseStats(output.stdout);
      const differences = itemizedDifferences(output.stdout);
      const result = {
        identical: differences.length === 0,
        files: stats.regularFiles,
        bytes: stats.totalBytes,
        differences: differences.slice(0, 20),
        verifiedAt: new Date().toISOString(),
      };
      if (!result.identical) {
        throw ApplicationFailure.create({
          type: ErrorType.VerificationFailed,
          nonRetryable: true,
          message: `${differences.length} difference(s) between ${input.source.host.name}:${input.source.path} and ${input.target.host.name}:${input.target.path}, first: ${differences.slice(0, 3).join(', ')}`,
          details: [result],
        });
      }
      return result;
    },

    /** While live, before the gate: every file by checksum; only a wrong copy fails (see the top of this file). */
    async verifyLive(input: VerifyInput): Promise<VerifyLiveResult> {
      const started = Date.now();
      const stop = keepBeating(() => ({ stage: 'verifying while live', seconds: Math.round((Date.now() - started) / 1000) }));
      try {
        return await onHost(deps, input.source.host, 'verify while live', async (c) => {
          const transfer = { ...input, delete: true, bandwidthLimitKBps: 0 };
          const out = await c.exec(rsyncCommand(transfer, 'verify'), { signal: cancellationSignal(), allowFailure: true });
          // 24: files vanished while rsync listed them, a live writer's doing.
          if (out.code !== 0 && out.code !== 24) {
            throw ApplicationFailure.nonRetryable(`verify while live: rsync exited ${out.code}: ${out.stderr.trim().slice(-500)}`, ErrorType.CommandFailed);
          }
          const differences = itemizedDifferences(out.stdout);
          let wrong = unexplainedDifferences(differences);
          if (wrong.length > 0) {
            // Looked at again on their own: a writer may have rewritten one between rsync's stat and its read.
            const again = await c.exec(
              `${RUN_DIR}; ${privateTempDir('t', 'verify')}; trap 'rm -rf "$t"' EXIT; cat > "$t/files"; ${rsyncCommand(transfer, 'verify', { filesFrom: '"$t/files"' })}`,
              { signal: cancellationSignal(), allowFailure: true, stdin: wrong.map((f) => `${f}\n`).join('') },
            );
            wrong = unexplainedDifferences(itemizedDifferences(again.stdout));
          }
          if (wrong.length > 0) {
            throw ApplicationFailure.create({
              type: ErrorType.VerificationFailed,
              nonRetryable: true,
              message:
                `${wrong.length} file(s) on ${input.target.host.name}:${input.target.path} differ in content from the source with the same size and ` +
                `time, twice in a row: the copy is wrong (rsync would never copy them again), first: ${wrong.slice(0, 5).join(', ')}`,
              details: [{ wrong: wrong.slice(0, 20) }],
            });
          }
          const stats = parseStats(out.stdout);
          return {
            files: stats.regularFiles,
            bytes: stats.totalBytes,
            // Files only: a directory's time changes with every file written or removed in it.
            changedSinceLastPass: differences.filter((l) => /^([<>ch.]f|\*deleting)/.test(l)).length,
            durationMs: Date.now() - started,
            verifiedAt: new Date().toISOString(),
          };
        });
      } finally {
        stop();
      }
    },

    /**
     * Inside the freeze, after the final sync (the source already fenced: `source.path` is where the tree now
     * is): what the final sync changed by checksum, and the whole tree by metadata, both hosts at once.
     */
    async verifyFrozen(input: VerifyInput): Promise<VerifyFrozenResult> {
      const started = Date.now();
      const stop = keepBeating(() => ({ stage: 'verifying in the freeze', seconds: Math.round((Date.now() - started) / 1000) }));
      try {
        // Both hosts at once, from the first moment: the target's connection opens while the source's reads the
        // final sync's list of changes (every few milliseconds count: this runs while writers are frozen).
        const facts = async (full: boolean) => {
          let listed!: (changed: string[]) => void;
          let notListed!: (err: unknown) => void;
          const changedList = new Promise<string[]>((resolve, reject) => ((listed = resolve), (notListed = reject)));
          changedList.catch(() => undefined); // the target may fail first; the source's failure is reported then
          const source = onHost(deps, input.source.host, 'verify in the freeze', async (c) => {
            const log = await c.exec(`${RUN_DIR}; cat ${changesLog(input.migrationId)} 2>/dev/null || true`, { signal: cancellationSignal() });
            const changed = changedFiles(log.stdout);
            listed(changed);
            return { changed, facts: await factsOf(c, input.source, input.exclude, changed, full) };
          }).catch((err: unknown) => {
            notListed(err);
            throw err;
          });
          const target = onHost(deps, input.target.host, 'verify in the freeze', async (t) => factsOf(t, input.target, input.exclude, await changedList, full));
          const [s, t] = await Promise.all([source, target]);
          return { changed: s.changed, source: s.facts, target: t };
        };
        let { changed, source, target } = await facts(false);
        const same = (a: Facts, b: Facts) => a.listDigest === b.listDigest && a.sumsDigest === b.sumsDigest;
        if (!same(source, target)) {
          ({ changed, source, target } = await facts(true));
          const s = `${input.source.host.name}:${input.source.path}`;
          const t = `${input.target.host.name}:${input.target.path}`;
          const differences = [
            ...listingDifferences(source.list ?? [], target.list ?? [], s, t),
            ...listingDifferences(source.sumLines ?? [], target.sumLines ?? [], `${s} checksum`, `${t} checksum`),
          ];
          if (!same(source, target) || differences.length > 0) {
            throw ApplicationFailure.create({
              type: ErrorType.VerificationFailed,
              nonRetryable: true,
              message: `${differences.length || 'some'} difference(s) between ${s} and ${t} after the final sync, first: ${differences.slice(0, 3).join(' | ')}`,
              details: [{ differences: differences.slice(0, 20) }],
            });
          }
        }
        return {
          files: source.files,
          bytes: source.bytes,
          entries: source.entries,
          checksummedFiles: changed.length,
          durationMs: Date.now() - started,
          verifiedAt: new Date().toISOString(),
        };
      } finally {
        stop();
      }
    },
  };
}
