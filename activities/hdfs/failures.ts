// WebHDFS errors as Temporal failures, shared by every HDFS activity.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { SecretError } from '../secrets';
import { WebHdfsError } from './webhdfs';

/**
 * WebHDFS errors as Temporal failures: an unreachable or busy cluster is retried; a permission problem, a missing
 * path or a refused request is not (retrying cannot fix it) and the message names the cluster and path.
 */
export function hdfsFailure(err: unknown, context: string): Error {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof SecretError) return ApplicationFailure.nonRetryable(`${context}: ${err.message}`, ErrorType.HostUnreachable);
  if (err instanceof WebHdfsError) {
    const message = `${context}: ${err.message}`;
    if (err.kind === 'unreachable' || err.kind === 'retriable' || err.kind === 'server') return ApplicationFailure.retryable(message, ErrorType.HostUnreachable);
    return ApplicationFailure.nonRetryable(message, ErrorType.CommandFailed);
  }
  return err instanceof Error ? err : new Error(String(err));
}
