// Plan hooks (freeze and unfreeze writers) run on their hosts.
import { cancellationSignal } from '@temporalio/activity';
import type { HookCommand, SshHost } from '../../workflows/shared/types';
import type { ActivityDeps } from '../deps';
import { keepBeating, onHost } from '../remote';

export function createHookActivities(deps: ActivityDeps) {
  return {
    /** Runs a plan hook on its host. Hooks must be idempotent: they may run twice. */
    async runHook(input: { hook: HookCommand; host: SshHost; label: string }): Promise<{ output: string }> {
      // A hook may take long (stopping a service drains it): heartbeat while it runs, so it is not timed out as dead.
      const started = Date.now();
      const stop = keepBeating(() => ({ hook: input.label, seconds: Math.round((Date.now() - started) / 1000) }));
      try {
        const r = await onHost(deps, input.host, `${input.label} hook`, (c) => c.exec(input.hook.command, { signal: cancellationSignal() }));
        return { output: (r.stdout + r.stderr).trim().slice(-2000) };
      } finally {
        stop();
      }
    },
  };
}
