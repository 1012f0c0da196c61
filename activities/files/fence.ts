// Fencing the source tree: inside the freeze, before the final sync, the tree's root is renamed aside (one atomic
// rename) and a read-only marker file takes its place. A writer that still reaches dc1 afterwards (the freeze
// hook missed it, or a client kept the old address for the record's TTL after the switch) fails loudly: open,
// mkdir -p and rename under the old path all meet a file (ENOTDIR, EEXIST) instead of landing in a copy nobody
// reads any more. The undo puts the tree back; after a completed move dc1 stays fenced, its tree kept aside.
// Writers holding a file open across the rename are the freeze hook's to stop: the rename cannot reach them,
// and the whole-tree metadata comparison after the final sync would catch what they wrote.
import { ApplicationFailure } from '@temporalio/common';
import { ErrorType } from '../../workflows/shared/errors';
import { fencedPath } from '../../workflows/shared/fence';
import { shq } from '../clients/ssh';
import type { ActivityDeps } from '../deps';
import { onHost } from '../remote';
import type { TreeEndpoint } from './rsync';


/** First line of the marker file: how fence and unfence recognise their own marker. */
const MARKER = 'cutover fence:';

export interface FenceInput {
  migrationId: string;
  source: TreeEndpoint;
  /** Where the tree went (shown in the marker file). */
  movedTo: string;
}

export function createFenceActivities(deps: ActivityDeps) {
  return {
    /** Rename the source tree aside and leave a read-only marker file at its path. Idempotent. */
    async fenceSource(input: FenceInput): Promise<{ fenced: string; already: boolean }> {
      const p = input.source.path.replace(/\/+$/, '');
      const f = fencedPath(p);
      const note = `${MARKER} ${p} moved to ${input.movedTo} by ${input.migrationId}; the old tree is kept at ${f}. Do not write here.\n`;
      // The marker is written beside first and renamed into place: no moment shows a half-written one. Between
      // the two renames the path is absent for a few microseconds; writers are frozen then, and one that got in
      // anyway (mkdir -p) makes the second rename fail, loudly.
      const script =
        `P=${shq(p)}; F=${shq(f)}; M="$P.cutover-marker"; ` +
        `ours() { [ -f "$P" ] && [ ! -L "$P" ] && head -c 14 "$P" | grep -qx ${shq(MARKER)}; }; ` +
        `if [ -d "$F" ] && { ours || [ ! -e "$P" ]; }; then already=1; ` +
        `elif [ -d "$P" ] && [ ! -L "$P" ] && [ ! -e "$F" ] && [ ! -L "$F" ]; then already=0; ` +
        `else echo "cannot fence: $P is not a directory, or $F already exists" >&2; exit 3; fi; ` +
        `if ! ours; then rm -f -- "$M" && printf '%s' ${shq(note)} > "$M" && chmod 444 -- "$M" && ` +
        `{ [ ! -d "$P" ] || mv -T -- "$P" "$F"; } && mv -T -- "$M" "$P" || exit 4; fi; echo "$already"`;
      const r = await onHost(deps, input.source.host, 'fence the source', (c) => c.exec(script, { allowFailure: true }));
      if (r.code !== 0) {
        throw ApplicationFailure.nonRetryable(`fencing ${input.source.host.name}:${p} failed (exit ${r.code}): ${r.stderr.trim()}`, ErrorType.CommandFailed);
      }
      return { fenced: f, already: r.stdout.trim() === '1' };
    },

    /** Undo of the fence: the marker removed, the tree back at its path. Idempotent. */
    async unfenceSource(input: { source: TreeEndpoint }): Promise<{ restored: string; already: boolean }> {
      const p = input.source.path.replace(/\/+$/, '');
      const f = fencedPath(p);
      const script =
        `P=${shq(p)}; F=${shq(f)}; ` +
        `ours() { [ -f "$P" ] && [ ! -L "$P" ] && head -c 14 "$P" | grep -qx ${shq(MARKER)}; }; ` +
        `if [ -d "$P" ] && [ ! -L "$P" ] && [ ! -e "$F" ]; then echo 1; exit 0; fi; ` +
        `if [ -d "$F" ] && { ours || [ ! -e "$P" ]; }; then rm -f -- "$P" && mv -T -- "$F" "$P" && echo 0; exit $?; fi; ` +
        // Something else is at the path: a writer got past the fence, or someone changed it by hand.
        `echo "cannot restore: $P is not cutover's marker (something wrote there) or $F is missing" >&2; exit 3`;
      const r = await onHost(deps, input.source.host, 'restore the fenced source', (c) => c.exec(script, { allowFailure: true }));
      if (r.code !== 0) {
        throw ApplicationFailure.nonRetryable(`restoring ${input.source.host.name}:${p} from ${f} failed (exit ${r.code}): ${r.stderr.trim()}`, ErrorType.CommandFailed);
      }
      return { restored: p, already: r.stdout.trim() === '1' };
    },
  };
}
