// Guarded removal of what a move created on a host: only deep absolute paths, and only as far as the move made them.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { shq, type SshConnection } from '../clients/ssh';
import type { TargetState } from './probes';

/** Removing a directory: only absolute paths at least two levels deep. Returns the path without trailing slashes. */
export function assertRemovable(p: string): string {
  const clean = p.replace(/\/+$/, '');
  if (!clean.startsWith('/') || clean.split('/').filter(Boolean).length < 2) {
    throw ApplicationFailure.nonRetryable(`refusing to remove ${p}: not an absolute path at least two levels deep`, ErrorType.InvalidPlan);
  }
  return clean;
}

/** Shell: delete everything inside `dir`, keeping the directory itself (nothing to do if it is not there). */
export function emptyDirectory(dir: string): string {
  return `[ ! -d ${shq(dir)} ] || find ${shq(dir)} -mindepth 1 -delete`;
}

/** Puts `dir` back as the move found it: removed if it was absent, emptied otherwise. Check it with `assertRemovable` first. */
export async function restoreTarget(c: SshConnection, dir: string, previousState: TargetState, signal?: AbortSignal): Promise<'removed' | 'emptied'> {
  if (previousState === 'absent') {
    await c.exec(`rm -rf -- ${shq(dir)}`, { signal });
    return 'removed';
  }
  await c.exec(emptyDirectory(dir), { signal });
  return 'emptied';
}
