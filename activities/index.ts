// All activities, built over injected clients. `Activities` is what workflows import (type only).
import { withSsh } from './clients/ssh';
import type { ActivityDeps } from './deps';
import { createDnsActivities } from './dns';
import { createFileActivities } from './files';

export type { ActivityDeps } from './deps';

export function defaultDeps(): ActivityDeps {
  return { withSsh, nsupdatePath: process.env.CUTOVER_NSUPDATE ?? 'nsupdate' };
}

export function createActivities(deps: ActivityDeps = defaultDeps()) {
  return {
    ...createFileActivities(deps),
    ...createDnsActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
