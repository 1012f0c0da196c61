// The remote-host toolkit every move's activities share.
export { onHost } from './commands';
export { keepBeating } from './heartbeat';
export { Problems, preflightFailure } from './preflight';
export { lacksRoom, probeTarget, type TargetProbe, type TargetState } from './probes';
export { privateTempDir, removeIfOurs, RUN_DIR, runFile, runInOwnSession, stopProcess, stopSession } from './processes';
export { assertSafeInput, inputProblem, validatingInterceptor } from './validate';
export { assertRemovable, emptyDirectory, restoreTarget } from './removal';
export { writeRemoteFile } from './write-file';
