// Preflight of a file sync: read-only checks of the source, the target and the hook hosts.
import path from 'node:path';
import type { SecretRef, SshHost } from '../../workflows/shared/types';
import { secretProblems } from '../secrets';
import { shq } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { lacksRoom, Problems, probeTarget, type TargetState } from '../remote';
import { fencedPath } from '../../workflows/shared/fence';
import { rsyncRemoteShell, sshLogin, type TreeEndpoint } from './rsync';

export interface FileSyncPreflightInput {
  source: TreeEndpoint;
  /** `overwrite`: the plan allows copying into a directory that already has files (absent: it does not). */
  target: TreeEndpoint & { overwrite?: boolean };
  hookHosts: SshHost[];
  /** Every secret the run names, by field: each must be in the worker's store (absent in runs from before). */
  secrets?: Record<string, SecretRef>;
}

export interface FileSyncPreflightResult {
  sourceFiles: number;
  sourceBytes: number;
  targetState: TargetState;
  targetFreeBytes: number;
}

export function createPreflightActivities(deps: ActivityDeps) {
  return {
    /** Read-only checks of both hosts; every problem is reported at once and nothing is changed. */
    async preflightFileSync(input: FileSyncPreflightInput): Promise<FileSyncPreflightResult> {
      const problems = new Problems();
      const result: FileSyncPreflightResult = { sourceFiles: 0, sourceBytes: 0, targetState: 'absent', targetFreeBytes: 0 };
      const { source, target } = input;
      // Every secret the run will need, now: a TSIG key missing from the store must not be found after the copy.
      for (const p of await secretProblems(input.secrets ?? {})) problems.add(p);

      await problems.check(`source host ${source.host.name}`, () =>
        deps.withSsh(source.host, async (c) => {
          if ((await c.exec('command -v rsync', { allowFailure: true })).code !== 0) {
            problems.add(`source host ${source.host.name}: rsync is not installed`);
          }
          if ((await c.exec('command -v perl', { allowFailure: true })).code !== 0) {
            problems.add(`source host ${source.host.name}: perl is not installed (it samples rsync's progress)`);
          }
          const dir = await c.exec(`test -d ${shq(source.path)} && test -r ${shq(source.path)} && test -x ${shq(source.path)}`, {
            allowFailure: true,
          });
          if (dir.code !== 0) {
            problems.add(`source.path ${source.path} on ${source.host.name} is not a readable directory`);
            return;
          }
          // The fence renames the tree aside inside the freeze: that needs the parent directory, and the name free.
          const clean = source.path.replace(/\/+$/, '');
          const parent = path.posix.dirname(clean);
          if ((await c.exec(`test -w ${shq(parent)} && test -x ${shq(parent)}`, { allowFailure: true })).code !== 0) {
            problems.add(`source.path's parent ${parent} on ${source.host.name} is not writable by ${source.host.user}: the source cannot be fenced (renamed aside) in the freeze`);
          }
          const fenced = fencedPath(clean);
          if ((await c.exec(`test -e ${shq(fenced)} || test -L ${shq(fenced)}`, { allowFailure: true })).code === 0) {
            problems.add(`${fenced} on ${source.host.name} exists (a fenced tree of an earlier move?): restore or remove it before moving ${clean} again`);
          }
          const count = await c.exec(`find ${shq(source.path)} -type f | wc -l; du -sb ${shq(source.path)} | cut -f1`);
          const [files, bytes] = count.stdout.trim().split('\n').map(Number);
          result.sourceFiles = files;
          result.sourceBytes = bytes;
          // rsync runs on the source host and connects to the target: check that path too.
          const hop = await c.exec(
            `${rsyncRemoteShell(target.host)} -- ${shq(sshLogin(target.host))} true`,
            { allowFailure: true },
          );
          if (hop.code !== 0) {
            problems.add(
              `source host ${source.host.name} cannot ssh to target host ${target.host.name} ` +
                `(${target.host.user}@${target.host.address}:${target.host.port}) with key auth and a pinned host key: ${hop.stderr.trim()}`,
            );
          }
        }),
      );

      await problems.check(`target host ${target.host.name}`, () =>
        deps.withSsh(target.host, async (c) => {
          if ((await c.exec('command -v rsync', { allowFailure: true })).code !== 0) {
            problems.add(`target host ${target.host.name}: rsync is not installed`);
          }
          const probe = await probeTarget(c, target.path);
          if (probe.state === 'not-a-directory') problems.add(`target.path ${target.path} on ${target.host.name} exists and is not a directory`);
          else result.targetState = probe.state;
          // rsync would replace files of the same name there, and the final sync's --delete removes every other one.
          if (probe.state === 'non-empty' && target.overwrite !== true) {
            problems.add(
              `target.path ${target.path} on ${target.host.name} is not empty: its files would be replaced or deleted; ` +
                'cutover copies into it only if the plan sets target.overwrite: true',
            );
          }
          if (!probe.writable) problems.add(`target.path ${target.path} on ${target.host.name} is not writable by ${target.host.user}`);
          result.targetFreeBytes = probe.freeBytes;
        }),
      );

      for (const host of input.hookHosts) {
        if (host.name === source.host.name || host.name === target.host.name) continue;
        await problems.check(`hook host ${host.name}`, () => deps.withSsh(host, async (c) => void (await c.exec('true'))));
      }

      if (lacksRoom(result.targetFreeBytes, result.sourceBytes)) {
        problems.add(`target host ${target.host.name} has ${result.targetFreeBytes} bytes free for ${target.path}, the source holds ${result.sourceBytes}`);
      }
      problems.throwIfAny();
      return result;
    },
  };
}
