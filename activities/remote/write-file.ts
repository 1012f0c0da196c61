// Writing a private file on a host: its content goes on SSH stdin (never on a command line), 0600, replaced atomically.
import path from 'node:path';
import { shq, type SshConnection } from '../clients/ssh';

export async function writeRemoteFile(c: SshConnection, file: string, content: string): Promise<void> {
  const tmp = `${file}.cutover-tmp`;
  await c.exec(`umask 077 && mkdir -p ${shq(path.posix.dirname(file))} && cat > ${shq(tmp)} && mv ${shq(tmp)} ${shq(file)}`, { stdin: content });
}
