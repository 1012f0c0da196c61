// Google Cloud Storage for artifacts (reports, dumps). CUTOVER_GCS_ENDPOINT points at an emulator such as
// the sandbox's fake-gcs-server; without it, the client uses Application Default Credentials.
import { Storage } from '@google-cloud/storage';

export function storageFromEnv(env: NodeJS.ProcessEnv = process.env): Storage {
  const apiEndpoint = env.CUTOVER_GCS_ENDPOINT;
  return new Storage({
    ...(apiEndpoint ? { apiEndpoint, useAuthWithCustomEndpoint: false } : {}),
    projectId: env.CUTOVER_GCS_PROJECT ?? env.GOOGLE_CLOUD_PROJECT,
  });
}
