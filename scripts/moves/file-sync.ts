// The file-sync move: a file tree dc1 → dc2 with rsync catch-up passes, a final sync in the freeze, DNS switch.
import { createActivities } from '../../activities';
import { lookupA } from '../../activities/dns';
import { UserError } from '../cli/errors';
import { formatBytes } from '../cli/format';
import { fileSyncInput, fileSyncPlanSchema, referenceProblems, sandboxFileSyncPlan } from '../plans/file-sync';
import { defineMove, preflightError } from './move';

export const fileSyncMove = defineMove({
  kind: 'file-sync',
  summary: 'a file tree: rsync catch-up passes while live, gate, freeze, final sync, verify, DNS switch',
  system: 'files',
  workflowType: 'fileSync',
  planSchema: fileSyncPlanSchema,
  referenceProblems,
  toInput: fileSyncInput,
  sampleName: 'assets-demo',
  samplePlan: (sb, name) => sandboxFileSyncPlan(sb, { name, sourceDir: sb.files.sourceDir, targetDir: sb.files.targetDir, dnsName: `assets.${sb.dns.zone}` }),
  bench: async () => (await import('../bench/file-sync')).fileSyncBenchmark,
  demo: { title: 'files (file-sync), the demo asset tree dc1 → dc2', run: async () => (await import('../demo/file-sync')).fileSyncDemo },

  async review(plan, { file, startedBy }) {
    const input = fileSyncInput(plan, startedBy);
    const source = { host: input.hosts[input.source.host], path: input.source.path };
    const target = { host: input.hosts[input.target.host], path: input.target.path, overwrite: input.target.overwrite ?? false };
    const hookHosts = [input.hooks.freeze, input.hooks.unfreeze].filter((h) => h !== undefined).map((h) => input.hosts[h.host]);
    const preflight = await createActivities()
      .preflightFileSync({ source, target, hookHosts })
      .catch((err) => {
        throw preflightError(file, err);
      });
    const d = input.traffic.dns;
    const dns = await lookupA(d).catch((err) => {
      throw new UserError(`traffic.dns: ${(err as Error).message}`);
    });
    if (!(dns.length === 1 && dns[0] === d.from)) {
      throw new UserError(`traffic.dns: ${d.name} resolves to ${dns.join(', ') || 'nothing'} at ${d.server}:${d.port}, the plan expects ${d.from}`);
    }
    const steps = [
      `copy ${input.source.host}:${input.source.path} → ${input.target.host}:${input.target.path} with rsync (target is ${preflight.targetState})`,
      `catch-up passes until one moves less than ${input.catchUp.thresholdBytes} bytes (at most ${input.catchUp.maxPasses})`,
      `wait at gate "cutover" for a go from ${input.approval.approvers.join(' or ')}${input.approval.requireSecondPerson ? ' (not the starter)' : ''}`,
      input.hooks.freeze ? `freeze writers on ${input.hooks.freeze.host}: ${input.hooks.freeze.command}` : 'no freeze hook',
      'final sync with --delete, then verify every file by checksum',
      `switch ${d.name} from ${d.from} to ${d.to} at ${d.server}:${d.port}`,
      input.hooks.unfreeze ? `unfreeze writers on ${input.hooks.unfreeze.host}: ${input.hooks.unfreeze.command} (point of no return)` : 'no unfreeze hook',
    ];
    const facts = [
      `source: ${preflight.sourceFiles} files, ${formatBytes(preflight.sourceBytes)}; target ${preflight.targetState}, ${formatBytes(preflight.targetFreeBytes)} free`,
      `${d.name} → ${dns.join(', ')}`,
    ];
    return { preflight, facts, steps };
  },
});
