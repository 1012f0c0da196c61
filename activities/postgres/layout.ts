// Where a server's configuration lives. Two layouts are common: everything in the data directory (initdb's
// default, the sandbox), and Debian's (pg_createcluster: postgresql.conf, pg_hba.conf and pg_ident.conf in
// /etc/postgresql/<major>/<cluster>, the data in /var/lib/postgresql/<major>/<cluster>). postgresql.auto.conf is
// always in the data directory: ALTER SYSTEM writes it there, whatever the layout. A running server says where
// its files are (SHOW config_file, hba_file); a stopped one is found by its postgresql.conf: in the data
// directory, or a Debian config whose data_directory names it.
import { shq, type SshConnection } from '../clients/ssh';
import { autoConfValue } from './pg-tools';

/** Where Debian keeps cluster configurations. */
export const DEBIAN_CONFIG_ROOT = '/etc/postgresql';

export interface ConfigLocation {
  /** postgresql.conf of the server. */
  configFile: string;
  /** true when it is not in the data directory (pg_ctl start must be told where it is). */
  separate: boolean;
}

/**
 * Shell: prints "IN-DATA-DIR" when `dataDir` holds postgresql.conf, then every postgresql.conf under
 * `root/<major>/<cluster>/` as "== <path>" followed by its data_directory lines. Read-only.
 */
export function configSearchScript(dataDir: string, root = DEBIAN_CONFIG_ROOT): string {
  return (
    `[ -f ${shq(`${dataDir}/postgresql.conf`)} ] && echo IN-DATA-DIR; ` +
    `for f in ${shq(root)}/*/*/postgresql.conf; do [ -f "$f" ] || continue; echo "== $f"; grep -E '^[[:space:]]*data_directory' "$f" 2>/dev/null; done; true`
  );
}

/** The config of `dataDir` from configSearchScript's output; null when there is none. */
export function pickConfigFile(output: string, dataDir: string): ConfigLocation | null {
  const clean = (p: string) => p.replace(/\/+$/, '');
  const lines = output.split('\n');
  if (lines.includes('IN-DATA-DIR')) return { configFile: `${clean(dataDir)}/postgresql.conf`, separate: false };
  let current: string | null = null;
  let body: string[] = [];
  const candidates: { file: string; text: string }[] = [];
  for (const line of [...lines, '== ']) {
    if (line.startsWith('== ')) {
      if (current) candidates.push({ file: current, text: body.join('\n') });
      current = line.slice(3) || null;
      body = [];
    } else body.push(line);
  }
  const match = candidates.find((c) => {
    const d = autoConfValue(c.text, 'data_directory');
    return d !== undefined && clean(d) === clean(dataDir);
  });
  return match ? { configFile: match.file, separate: true } : null;
}

/** Finds the postgresql.conf of the (possibly stopped) server in `dataDir` on a host. */
export async function findConfig(c: SshConnection, dataDir: string): Promise<ConfigLocation | null> {
  const r = await c.exec(configSearchScript(dataDir), { allowFailure: true });
  return pickConfigFile(r.stdout, dataDir);
}

/** pg_ctl's `-o` for a config outside the data directory (pg_ctl runs postgres through sh: quoted twice). */
export function configOption(loc: ConfigLocation | null): string {
  return loc?.separate ? `-o ${shq(`-c config_file=${shq(loc.configFile)}`)}` : '';
}
