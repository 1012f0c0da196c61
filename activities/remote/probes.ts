// Looking at a target directory on a host before a move writes into it: its state, whether it can be written,
// and the room left on its file system.
import { shq, type SshConnection } from '../clients/ssh';

/** What a move found where it will write: a later undo puts it back that way. */
export type TargetState = 'absent' | 'empty' | 'non-empty';

export interface TargetProbe {
  state: TargetState | 'not-a-directory';
  /** The directory (or, when absent, its parent) can be written by the SSH user. */
  writable: boolean;
  /** Free bytes on the file system that holds it (or would hold it). */
  freeBytes: number;
  /** Lines printed by the probe's `also` shell. */
  notes: string[];
}

/**
 * One command: the state of `dir`, then whatever `also` prints (more checks in the same round trip: a shell
 * fragment ending in ";" that may use "$p", the path), then the free bytes.
 */
export async function probeTarget(c: SshConnection, dir: string, also = ''): Promise<TargetProbe> {
  const r = await c.exec(
    `p=${shq(dir)}; if [ ! -e "$p" ]; then echo absent; d=$(dirname "$p"); [ -d "$d" ] && [ -w "$d" ] || echo unwritable; ` +
      `elif [ ! -d "$p" ]; then echo not-a-directory; elif [ -z "$(ls -A "$p")" ]; then echo empty; [ -w "$p" ] || echo unwritable; ` +
      `else echo non-empty; [ -w "$p" ] || echo unwritable; fi; ${also}` +
      `d="$p"; while [ ! -e "$d" ]; do d=$(dirname "$d"); done; df -PB1 "$d" | awk 'NR==2 {print "free " $4}'`,
  );
  const lines = r.stdout.trim().split('\n');
  const [state, ...rest] = lines;
  return {
    state: state as TargetProbe['state'],
    writable: !rest.includes('unwritable'),
    freeBytes: Number(rest.find((l) => l.startsWith('free '))?.slice(5)) || 0,
    notes: rest.filter((l) => l !== 'unwritable' && !l.startsWith('free ')),
  };
}

/** Both figures known and the copy would not fit. */
export function lacksRoom(freeBytes: number, neededBytes: number): boolean {
  return neededBytes > 0 && freeBytes > 0 && freeBytes < neededBytes;
}
