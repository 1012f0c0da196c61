// Commands on a host over SSH, cancelled with the activity, their errors turned into cutover's failures.
import { cancellationSignal } from '@temporalio/activity';
import type { SshHost } from '../../workflows/shared/types';
import type { SshConnection } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { toFailure } from '../failures';

/** Runs `fn` over one SSH connection to `host`; `what` names the step in the failure's message. */
export async function onHost<T>(deps: Pick<ActivityDeps, 'withSsh'>, host: SshHost, what: string, fn: (c: SshConnection) => Promise<T>): Promise<T> {
  try {
    return await deps.withSsh(host, fn, cancellationSignal());
  } catch (err) {
    throw toFailure(err, what);
  }
}
