// The dry run of a file move: reads (preflight) real, every change recorded and not done, with a result that
// lets the workflow go on as if it had been (a pass that moved nothing, identical trees).
import { log } from '@temporalio/activity';
import { fencedPath } from '../../workflows/shared/fence';
import type { createFileActivities } from '.';

type FileActivities = ReturnType<typeof createFileActivities>;

export function createFileDryRun(real: FileActivities): FileActivities {
  const now = () => new Date().toISOString();
  return {
    preflightFileSync: real.preflightFileSync,
    async rsyncPass(input) {
      log.info('dry run: rsync pass not run', { pass: input.pass, delete: input.delete });
      return { pass: input.pass, filesTransferred: 0, bytesTransferred: 0, literalBytes: 0, deletedFiles: 0, totalFiles: 0, totalBytes: 0, durationMs: 0, attempt: 1 };
    },
    async removeTargetTree(input) {
      return { removed: `dry run: ${input.target.host.name}:${input.target.path} not removed` };
    },
    async verifyTrees() {
      return { identical: true, files: 0, bytes: 0, differences: [], verifiedAt: now() };
    },
    async verifyLive() {
      return { files: 0, bytes: 0, changedSinceLastPass: 0, durationMs: 0, verifiedAt: now() };
    },
    async verifyFrozen() {
      return { files: 0, bytes: 0, entries: 0, checksummedFiles: 0, durationMs: 0, verifiedAt: now() };
    },
    async fenceSource(input) {
      log.info('dry run: source not fenced', { path: input.source.path });
      return { fenced: fencedPath(input.source.path), already: false };
    },
    async unfenceSource(input) {
      return { restored: input.source.path, already: true };
    },
    async runHook(input) {
      return { output: `dry run: ${input.label} hook not run` };
    },
  };
}
