// The job system's control for a plan's hooks (run over SSH on the app's host, or on the worker):
//   npx tsx scripts/workload/redis-jobs-ctl.ts pause|resume|status --url http://127.0.0.1:7390
// Prints the status as JSON. `pause` exits 0 only once the queue is paused with no job active, so a freeze hook
// that succeeds means nothing is being processed; any other failure exits 2 with the reason.
import type { JobStatus } from './redis-jobs';

export async function control(url: string, command: 'pause' | 'resume' | 'status'): Promise<JobStatus> {
  const res = await fetch(`${url.replace(/\/$/, '')}/${command}`, { method: command === 'status' ? 'GET' : 'POST', signal: AbortSignal.timeout(60_000) });
  const body = (await res.json()) as JobStatus & { error?: string };
  if (!res.ok) throw new Error(`${command}: ${body.error ?? res.status}`);
  return body;
}

if (require.main === module) {
  const [command] = process.argv.slice(2);
  const i = process.argv.indexOf('--url');
  const url = i > 0 ? process.argv[i + 1] : process.env.CUTOVER_JOBS_URL;
  if (!url || !['pause', 'resume', 'status'].includes(command)) {
    console.error('usage: redis-jobs-ctl.ts pause|resume|status --url http://HOST:PORT');
    process.exit(2);
  }
  control(url, command as 'pause' | 'resume' | 'status').then(
    (s) => {
      console.log(JSON.stringify(s));
      if (command === 'pause' && (!s.paused || s.active > 0)) {
        console.error(`not paused yet: ${s.active} job(s) still active`);
        process.exit(2);
      }
    },
    (err: Error) => {
      console.error(`${url}: ${err.message}`);
      process.exit(2);
    },
  );
}
