// Turning low-level errors into Temporal failures with cutover's error types.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../workflows/shared/errors';
import { PgError } from './clients/pg';
import { SshError } from './clients/ssh';

/** Unreachable hosts are retried (networks heal); refused keys and failed commands are not. */
export function sshFailure(err: unknown, context: string): Error {
  if (err instanceof ApplicationFailure) return err;
  const message = `${context}: ${(err as Error).message}`;
  if (err instanceof SshError) {
    if (err.kind === 'unreachable') return ApplicationFailure.retryable(message, ErrorType.HostUnreachable);
    if (err.kind === 'auth' || err.kind === 'host-key') {
      return ApplicationFailure.nonRetryable(message, ErrorType.HostUnreachable);
    }
    return ApplicationFailure.nonRetryable(message, ErrorType.CommandFailed);
  }
  return err instanceof Error ? err : new Error(String(err));
}

/** Preflight never retries: every failed check is reported at once, nothing having been changed. */
export function preflightFailure(problems: string[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: ErrorType.PreflightFailed,
    nonRetryable: true,
    message: `preflight failed: ${problems.join('; ')}`,
    details: [problems],
  });
}

/** PostgreSQL errors: an absent server is retried (it may be restarting); bad logins and failed SQL are not. */
export function pgFailure(err: unknown, context: string): Error {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof PgError) {
    const message = `${context}: ${err.message}`;
    if (err.kind === 'unreachable') return ApplicationFailure.retryable(message, ErrorType.HostUnreachable);
    if (err.kind === 'auth' || err.kind === 'secret') return ApplicationFailure.nonRetryable(message, ErrorType.HostUnreachable);
    return ApplicationFailure.nonRetryable(message, ErrorType.CommandFailed);
  }
  return sshFailure(err, context);
}
