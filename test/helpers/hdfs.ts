// The sandbox's HDFS clusters for tests and benchmarks. sandbox.json has them once an `up` that knows HDFS wrote
// it; an older file (written by an `up` from before HDFS was in the sandbox) lacks them, and then they are derived
// from the layout, which is where `up` put them.
import { loadSandbox } from '../../scripts/sandbox/endpoints';
import { hdfsEndpoints, layout } from '../../scripts/sandbox/layout';

export function sandboxHdfs() {
  const sb = loadSandbox();
  return sb.hdfs ?? hdfsEndpoints(layout(sb.stateDir));
}
