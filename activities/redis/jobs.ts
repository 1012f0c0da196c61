// The job system's hooks (pause, confirm, resume), run on their host over SSH with a deadline: a hook that hangs
// must fail its step (and so roll back, resuming the jobs) rather than hold everything. `untilSuccess` runs a
// check again until it exits 0 (confirming that no job is active) or the time is up.
import { cancellationSignal } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import type { HookCommand, SshHost } from '../../workflows/shared/types';
import type { ActivityDeps } from '../deps';
import { keepBeating, onHost } from '../remote';
import { timed } from './service';

export interface JobsHookInput {
  hook: HookCommand;
  host: SshHost;
  label: string;
  timeoutMs: number;
  /** Run again (every second) until it exits 0, within the timeout. */
  untilSuccess?: boolean;
}

export async function runJobsHook(deps: Pick<ActivityDeps, 'withSsh'>, input: JobsHookInput): Promise<{ output: string; ms: number; tries: number }> {
  const started = Date.now();
  let tries = 0;
  const stop = keepBeating(() => ({ hook: input.label, tries, ms: Date.now() - started }));
  try {
    return await onHost(deps, input.host, `${input.label} hook`, async (c) => {
      for (;;) {
        tries++;
        const left = input.timeoutMs - (Date.now() - started);
        const r = await c.exec(timed(input.hook.command, left / 1000), { signal: cancellationSignal(), allowFailure: true });
        const output = (r.stdout + r.stderr).trim().slice(-2000);
        if (r.code === 0) return { output, ms: Date.now() - started, tries };
        const out = Date.now() - started >= input.timeoutMs - 500;
        if (!input.untilSuccess || out) {
          // 124: `timeout` ended it. Either way the job system is in an unknown state: the step fails, its undo resumes it.
          const why = r.code === 124 || r.code === 137 ? `did not finish within ${Math.round(input.timeoutMs / 1000)} s` : `exited ${r.code}`;
          throw ApplicationFailure.nonRetryable(`${input.label} hook on ${input.host.name} ${why}: ${output.split('\n').slice(-3).join(' | ')}`, ErrorType.CommandFailed);
        }
        await new Promise((res) => setTimeout(res, 1000));
      }
    });
  } finally {
    stop();
  }
}
