// Turning low-level errors (SSH, PostgreSQL, unreadable secrets) into Temporal failures with cutover's error types.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflows/shared/errors';
import { PgError } from './clients/pg';
import { SshError } from './clients/ssh';
import { SecretError } from './secrets';

/**
 * Unreachable hosts and absent servers are retried (networks heal, servers restart); refused keys, bad logins,
 * unreadable secrets and failed commands or SQL are not. `context` says what was being done.
 */
export function toFailure(err: unknown, context: string): Error {
  if (err instanceof ApplicationFailure) return err;
  const message = `${context}: ${(err as Error).message}`;
  if (err instanceof SecretError) return ApplicationFailure.nonRetryable(message, ErrorType.HostUnreachable);
  if (err instanceof PgError || err instanceof SshError) {
    if (err.kind === 'unreachable') return ApplicationFailure.retryable(message, ErrorType.HostUnreachable);
    if (err.kind === 'auth' || err.kind === 'host-key') return ApplicationFailure.nonRetryable(message, ErrorType.HostUnreachable);
    return ApplicationFailure.nonRetryable(message, ErrorType.CommandFailed);
  }
  return err instanceof Error ? err : new Error(String(err));
}
