// Long-running commands on a host that must outlive, or be stopped after, the activity attempt that started
// them: pid files, a session of their own, stopping what a previous attempt left running.
import { shq } from '../clients/ssh';

// Every file argument is a shell word: quote a literal path with shq; `runFile` gives one the shell expands.
//
// Pid files and FIFOs live in the SSH user's private run directory ($HOME/.cache/cutover, 0700, owned by that
// user, not a symlink), never at a predictable path in a shared /tmp: there anyone could plant a pid file (and
// have cutover kill any process of that user) or a FIFO. A retry must find its previous attempt's pid file, so
// the directory is per user rather than per run; what is per run (a FIFO) goes in a `mktemp -d` directory inside.

/**
 * Shell: sets $R to the private run directory, creating it 0700; exits 1 when it is not a directory this user
 * owns (a symlink, another owner). Put it first in any command that uses `runFile` or `privateTempDir`.
 */
export const RUN_DIR =
  `R="\${HOME:?}/.cache/cutover"; (umask 077 && mkdir -p "$R") && [ -d "$R" ] && [ ! -L "$R" ] && [ -O "$R" ] && chmod 700 "$R" ` +
  `|| { echo "cutover: cannot use the private run directory $R" >&2; exit 1; }`;

/** Shell word: a per-migration file in the private run directory ("$R/rsync-<id>.pid"); needs RUN_DIR first. */
export function runFile(tool: string, migrationId: string, ext: string): string {
  return `"$R"/${tool}-${migrationId.replace(/[^A-Za-z0-9_.-]/g, '_')}.${ext}`;
}

/** Shell: a fresh private directory for one attempt's FIFOs in $R, its path in the variable `name`; needs RUN_DIR. */
export function privateTempDir(name: string, tool: string): string {
  return `${name}=$(mktemp -d "$R/${tool}.XXXXXXXX") || exit 1`;
}

/**
 * Shell: stop the process recorded in `pidFile` (if it still runs and, when `comm` is given, is that program: a pid
 * left by a dead attempt may since belong to something else) and wait up to 2 s for it to exit.
 */
export function stopProcess(pidFile: string, comm?: string): string {
  const same = comm ? ` && [ "$(ps -o comm= -p "$p" 2>/dev/null)" = ${shq(comm)} ]` : '';
  return (
    `pf=${pidFile}; p=$(cat "$pf" 2>/dev/null); if [ -n "$p" ] && kill -0 "$p" 2>/dev/null${same}; then kill "$p"; ` +
    `for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done; fi`
  );
}

/** Shell: remove `pidFile` only while it still names `pid`: a newer attempt may have written its own there. */
export function removeIfOurs(pidFile: string, pid: string): string {
  return `[ "$(cat ${pidFile} 2>/dev/null)" != "${pid}" ] || rm -f ${pidFile}`;
}

/**
 * Shell: run `command` in a session of its own, its session id in `pidFile`, and wait for it. When it ends,
 * whatever it left behind in its session (pg_basebackup's WAL-streaming child after a kill) is ended too:
 * it would hold a replication slot and keep the SSH channel open.
 */
export function runInOwnSession(pidFile: string, command: string): string {
  return (
    `setsid sh -c 'echo $$ > "$0"; exec "$@"' ${pidFile} ${command} & b=$!; ` +
    `wait $b; rc=$?; kill -TERM -$b 2>/dev/null; ${removeIfOurs(pidFile, '$b')}; exit $rc`
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
