// Long-running commands on a host that must outlive, or be stopped after, the activity attempt that started
// them: pid files, a session of their own, stopping what a previous attempt left running.
// Every file argument is a shell word: quote a literal path with shq; `runFile` gives one the shell expands.

/** Shell word: a per-migration file in the host's temporary directory ("cutover-rsync-<id>.pid"). */
export function runFile(tool: string, migrationId: string, ext: string): string {
  return `"\${TMPDIR:-/tmp}"/cutover-${tool}-${migrationId.replace(/[^A-Za-z0-9_.-]/g, '_')}.${ext}`;
}

/** Shell: stop the process recorded in `pidFile` (if it still runs) and wait up to 2 s for it to exit. */
export function stopProcess(pidFile: string): string {
  return (
    `pf=${pidFile}; if [ -f "$pf" ] && kill -0 "$(cat "$pf")" 2>/dev/null; then kill "$(cat "$pf")"; ` +
    `for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$(cat "$pf")" 2>/dev/null || break; sleep 0.2; done; fi`
  );
}

/**
 * Shell: run `command` in a session of its own, its session id in `pidFile`, and wait for it. When it ends,
 * whatever it left behind in its session (pg_basebackup's WAL-streaming child after a kill) is ended too:
 * it would hold a replication slot and keep the SSH channel open.
 */
export function runInOwnSession(pidFile: string, command: string): string {
  return (
    `setsid sh -c 'echo $$ > "$0"; exec "$@"' ${pidFile} ${command} & b=$!; ` +
    `wait $b; rc=$?; kill -TERM -$b 2>/dev/null; rm -f ${pidFile}; exit $rc`
  );
}

/**
 * Shell: stop a session started by `runInOwnSession` (pid file = its session id), every process in it,
 * TERM then KILL after 5 s, so two attempts never write the same place. Succeeds when there is none.
 */
export function stopSession(pidFile: string): string {
  return (
    `pf=${pidFile}; if [ -f "$pf" ]; then g=$(cat "$pf"); ` +
    `alive() { ps -o stat= -s "$g" 2>/dev/null | grep -qv '^Z'; }; ` +
    `if alive; then kill -TERM -"$g" 2>/dev/null; for i in $(seq 50); do alive || break; sleep 0.1; done; alive && kill -KILL -"$g" 2>/dev/null; fi; ` +
    `rm -f "$pf"; fi; true`
  );
}
