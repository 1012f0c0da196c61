// File-tree activities: preflight, rsync passes (pushed from the source host to the target over SSH),
// verification (by checksum while live, by what changed and by metadata in the freeze), the source's fence,
// hooks and the target cleanup compensation.
import type { ActivityDeps } from '../deps';
import { createCopyActivities } from './copy';
import { createFenceActivities } from './fence';
import { createHookActivities } from './hooks';
import { createPreflightActivities } from './preflight';
import { createVerifyActivities } from './verify';

export type { RsyncPassInput, RsyncPassResult } from './copy';
export type { FileSyncPreflightInput, FileSyncPreflightResult } from './preflight';
export { rsyncCommand, rsyncRemoteShell, type RsyncTransfer, type TreeEndpoint } from './rsync';
export type { VerifyFrozenResult, VerifyLiveResult, VerifyTreesResult } from './verify';

export function createFileActivities(deps: ActivityDeps) {
  return {
    ...createPreflightActivities(deps),
    ...createCopyActivities(deps),
    ...createVerifyActivities(deps),
    ...createFenceActivities(deps),
    ...createHookActivities(deps),
  };
}
