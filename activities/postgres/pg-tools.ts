// Pure helpers for PostgreSQL's files and command-line tools: LSN arithmetic, pg_basebackup progress,
// pg_controldata and pg_waldump output, timeline history files, postgresql.auto.conf edits, conninfo and
// passfile and SQL literal quoting. No I/O: unit-tested on their own.

/** "16/B374D848" → bigint. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m) throw new Error(`not an LSN: ${JSON.stringify(lsn)}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

export function formatLsn(value: bigint): string {
  return `${(value >> 32n).toString(16).toUpperCase()}/${(value & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** a - b in bytes, never negative (a standby ahead of a stale primary reading counts as no lag). */
export function lsnDiff(a: string, b: string): number {
  const d = parseLsn(a) - parseLsn(b);
  return d > 0n ? Number(d) : 0;
}

export function lsnAtLeast(a: string, b: string): boolean {
  return parseLsn(a) >= parseLsn(b);
}

export interface WalLayout {
  /** "WAL block size" in pg_controldata. */
  blockSize: number;
  /** "Bytes per WAL segment" in pg_controldata. */
  segmentSize: number;
}

export const DEFAULT_WAL_LAYOUT: WalLayout = { blockSize: 8192, segmentSize: 16 * 1024 * 1024 };

// Page headers, MAXALIGN'ed on 64-bit: XLogPageHeaderData (20 → 24 bytes) on every WAL page, XLogLongPageHeaderData
// (36 → 40 bytes) on the first page of each segment.
const SHORT_PAGE_HEADER = 24n;
const LONG_PAGE_HEADER = 40n;

/**
 * End of a WAL record as replay reports it (pg_last_wal_replay_lsn): the record's bytes laid out from `start`,
 * skipping the header of every page it crosses into, then MAXALIGN'ed (8 bytes). A record that straddles a page
 * boundary ends 24 bytes later than start + length.
 */
export function recordEnd(start: string, totalLength: number, wal: WalLayout = DEFAULT_WAL_LAYOUT): string {
  const block = BigInt(wal.blockSize);
  const segment = BigInt(wal.segmentSize);
  let pos = parseLsn(start);
  let remaining = BigInt(totalLength);
  for (;;) {
    const room = block - (pos % block);
    if (remaining <= room) {
      pos += remaining;
      break;
    }
    remaining -= room;
    pos += room;
    pos += pos % segment === 0n ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER;
  }
  return formatLsn((pos + 7n) & ~7n);
}

export interface BaseBackupProgress {
  doneBytes: number;
  totalBytes: number;
  percent: number;
}

/** pg_basebackup -P without a terminal prints one line per update: "5138/30385 kB (16%), 0/1 tablespace". */
export function parseBaseBackupProgress(chunk: string): BaseBackupProgress | null {
  let last: BaseBackupProgress | null = null;
  for (const m of chunk.matchAll(/(\d+)\/(\d+) kB \((\d+)%\)/g)) {
    last = { doneBytes: Number(m[1]) * 1024, totalBytes: Number(m[2]) * 1024, percent: Number(m[3]) };
  }
  return last;
}

export interface ControlData {
  state: string;
  checkpointLsn: string;
  redoLsn: string;
  timeline: number;
  systemIdentifier: string;
  wal: WalLayout;
}

export function parseControlData(text: string): ControlData {
  const field = (name: string) => {
    const m = new RegExp(`^${name.replace(/[()']/g, '\\$&')}:\\s*(.*)$`, 'm').exec(text);
    if (!m) throw new Error(`pg_controldata output has no "${name}"`);
    return m[1].trim();
  };
  return {
    state: field('Database cluster state'),
    checkpointLsn: field('Latest checkpoint location'),
    redoLsn: field("Latest checkpoint's REDO location"),
    timeline: Number(field("Latest checkpoint's TimeLineID")),
    systemIdentifier: field('Database system identifier'),
    wal: { blockSize: Number(field('WAL block size')), segmentSize: Number(field('Bytes per WAL segment')) },
  };
}

/** First record of `pg_waldump -s LSN -n 1`: "rmgr: XLOG len (rec/tot): 114/ 114, tx: 0, lsn: 0/04050E08, ...". */
export function parseWaldumpRecord(text: string): { lsn: string; totalLength: number; description: string } {
  const m = /len \(rec\/tot\):\s*\d+\/\s*(\d+),.*?lsn: ([0-9A-F]+\/[0-9A-F]+),.*?desc: (.*)$/m.exec(text);
  if (!m) throw new Error(`cannot read pg_waldump output: ${text.trim().slice(0, 200)}`);
  return { totalLength: Number(m[1]), lsn: formatLsn(parseLsn(m[2])), description: m[3].trim() };
}

/** Timeline history file ("1\t0/4050E80\tno recovery target specified"): timeline → LSN where it ended. */
export function parseTimelineHistory(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+([0-9A-Fa-f]+\/[0-9A-Fa-f]+)/.exec(line);
    if (m) out.set(Number(m[1]), formatLsn(parseLsn(m[2])));
  }
  return out;
}

/** "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)" → 15; server_version_num 150018 → 15. */
export function majorVersion(v: string | number): number | null {
  if (typeof v === 'number' || /^\d{5,6}$/.test(String(v))) return Math.floor(Number(v) / 10000);
  const m = /PostgreSQL\)?\s+(\d+)(?:\.\d+)?/.exec(String(v));
  return m ? Number(m[1]) : null;
}

/** A value in postgresql.conf syntax: single quotes doubled, backslashes escaped. */
export function confQuote(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A setting line of postgresql.conf / postgresql.auto.conf: its name, then its value (quoted or bare). */
const SETTING_LINE = /^\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*=?\s*('(?:[^'\\]|\\.|'')*'|[^\s#]+)?/;

/** The value a config file gives `name` (its last line wins, as in the server), unquoted; undefined if none. */
export function autoConfValue(text: string, name: string): string | undefined {
  let value: string | undefined;
  for (const line of text.split('\n')) {
    const m = SETTING_LINE.exec(line);
    if (m?.[2] && m[1].toLowerCase() === name.toLowerCase()) value = m[2].startsWith("'") ? m[2].slice(1, -1).replace(/''|\\'/g, "'") : m[2];
  }
  return value;
}

/**
 * postgresql.auto.conf with `changes` applied the way ALTER SYSTEM does: every line setting one of the
 * names is dropped, then the non-null ones are appended. Other lines (and comments) are kept.
 */
export function editAutoConf(text: string, changes: Record<string, string | null>, comment?: string): string {
  const names = new Set(Object.keys(changes).map((n) => n.toLowerCase()));
  const kept = text
    .split('\n')
    .filter((line) => {
      const m = SETTING_LINE.exec(line);
      return !(m && names.has(m[1].toLowerCase()));
    })
    .filter((line, i, all) => !(line === '' && i === all.length - 1));
  const added = Object.entries(changes)
    .filter((e): e is [string, string] => e[1] !== null)
    .map(([k, v]) => `${k} = ${confQuote(v)}`);
  if (added.length && comment) added.unshift(`# ${comment}`);
  return [...kept, ...added, ''].join('\n');
}

/** One libpq conninfo value: quoted when needed, with \ and ' escaped. */
function conninfoValue(v: string): string {
  return /^[A-Za-z0-9_./:@-]+$/.test(v) ? v : `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function conninfo(params: Record<string, string | number>): string {
  return Object.entries(params)
    .map(([k, v]) => `${k}=${conninfoValue(String(v))}`)
    .join(' ');
}

/** A ~/.pgpass line: ':' and '\' escaped in every field. Database '*' also matches replication connections. */
export function passfileLine(address: string, port: number, user: string, password: string): string {
  const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  return `${esc(address)}:${port}:*:${esc(user)}:${esc(password)}\n`;
}

/** A replication slot or application name cutover may put unquoted in SQL strings and file names. */
export function isSafeIdentifier(name: string): boolean {
  return /^[a-z_][a-z0-9_]{0,62}$/.test(name);
}

/** A string as an SQL literal, for the statements that take no parameters (ALTER SYSTEM, COPY TO a file). */
export function sqlLiteral(v: string): string {
  return `'${v.replace(/'/g, "''")}'`;
}
