// The demo's Redis move (filled in below, in a later commit).
import type { Demo, MoveResult } from './drive';

export async function redisMoveDemo(d: Demo): Promise<MoveResult> {
  throw new Error(`not yet (${d.stamp})`);
}
