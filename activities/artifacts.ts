// Artifacts in Google Cloud Storage: each run's report (and later dumps) under gs://BUCKET/PREFIX/.
import { ApplicationFailure } from '@temporalio/common';
import type { Storage } from '@google-cloud/storage';
import { ErrorType } from '../workflows/shared/errors';

export function createArtifactActivities(deps: { storage: () => Storage }) {
  return {
    /** Idempotent: the same object name is overwritten with the same content. */
    async storeReport(input: { bucket: string; object: string; report: unknown }): Promise<{ uri: string; bytes: number }> {
      const body = JSON.stringify(input.report, null, 2);
      const file = deps.storage().bucket(input.bucket).file(input.object);
      try {
        await file.save(body, { contentType: 'application/json', resumable: false });
      } catch (err) {
        const code = (err as { code?: number }).code;
        if (code === 404) {
          throw ApplicationFailure.nonRetryable(`GCS bucket ${input.bucket} does not exist`, ErrorType.InvalidPlan);
        }
        throw err;
      }
      return { uri: `gs://${input.bucket}/${input.object}`, bytes: Buffer.byteLength(body) };
    },
  };
}
