// Where a file move's fence puts the source tree: beside it, under a fixed name an operator finds (and that
// preflight checks is free). Shared by the workflow (undo instructions) and the activities (the rename).

export function fencedPath(sourcePath: string): string {
  return `${sourcePath.replace(/\/+$/, '')}.cutover-fenced`;
}
