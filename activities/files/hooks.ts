// Plan hooks (freeze and unfreeze writers) run on their hosts.
import { cancellationSignal } from '@temporalio/activity';
import type { HookCommand, SshHost } from '../../workflows/shared/types';
import type { ActivityDeps } from '../deps';
import { onHost } from '../remote';

export function createHookActivities(deps: ActivityDeps) {
  return {
    /** Runs a plan hook on its host. Hooks must be idempotent: they may run twice. */
    async runHook(input: { hook: HookCommand; host: SshHost; label: string }): Promise<{ output: string }> {
      const r = await onHost(deps, input.host, `${input.label} hook`, (c) => c.exec(input.hook.command, { signal: cancellationSignal() }));
      return { output: (r.stdout + r.stderr).trim().slice(-2000) };
    },
  };
}
