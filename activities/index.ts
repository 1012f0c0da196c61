// All activities, built over injected clients. `Activities` is what workflows import (type only).
import type { Storage } from '@google-cloud/storage';
import { createArtifactActivities } from './artifacts';
import { storageFromEnv } from './clients/gcs';
import { withPg } from './clients/pg';
import { withSsh } from './clients/ssh';
import type { ActivityDeps } from './deps';
import { createDnsActivities } from './dns';
import { createFileActivities } from './files';
import { createHdfsActivities } from './hdfs';
import { createPostgresActivities } from './postgres';
import { createRedisActivities } from './redis';

export type { ActivityDeps } from './deps';

export function defaultDeps(): ActivityDeps {
  let storage: Storage | undefined;
  return {
    withSsh,
    withPg,
    nsupdatePath: process.env.CUTOVER_NSUPDATE ?? 'nsupdate',
    storage: () => (storage ??= storageFromEnv()),
  };
}

export function createActivities(deps: ActivityDeps = defaultDeps()) {
  return {
    ...createFileActivities(deps),
    ...createDnsActivities(deps),
    ...createPostgresActivities(deps),
    ...createRedisActivities(deps),
    ...createHdfsActivities(deps),
    ...createArtifactActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
