// Alerts for the hdfs-dual-write move: a Slack-compatible webhook (`text` + `blocks`), its URL read on the worker from
// a secret reference (a Slack webhook URL is itself the credential: it never enters history, results or errors).
// An alert that cannot be delivered is a result (`sent: false` and why), never a failure: the move goes on and
// shows the difference in its status and report whether or not the webhook answered.
import { cancellationSignal } from '@temporalio/activity';
import { keepBeating } from '../remote';
import { readSecret, SecretError } from '../secrets';
import type { AlertInput, AlertResult } from './jobs';
import { deadlineSignal } from '../deadline';

/** Slack's limits: 3,000 characters per section text, 50 blocks per message. */
const SECTION_CHARS = 2900;
const MAX_DETAIL_BLOCKS = 40;

/** Pure: the message Slack (and Mattermost, Rocket.Chat, ...) webhooks accept. */
export function slackPayload(input: Pick<AlertInput, 'title' | 'job' | 'details'>): { text: string; blocks: unknown[] } {
  const cut = (s: string, n = SECTION_CHARS) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
  const text = cut(`${input.title} (job ${input.job})`, 300);
  const details = input.details.slice(0, MAX_DETAIL_BLOCKS);
  const blocks: unknown[] = [
    { type: 'header', text: { type: 'plain_text', text: cut(input.title, 150) } },
    { type: 'section', text: { type: 'mrkdwn', text: cut(`*job* \`${input.job.replace(/`/g, "'")}\``) } },
    ...details.map((d) => ({ type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${cut(d.replace(/```/g, "'''"), SECTION_CHARS - 6)}\`\`\`` } })),
  ];
  if (input.details.length > details.length) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `… and ${input.details.length - details.length} more` }] });
  }
  return { text, blocks };
}

/** Why a try failed, in words that cannot contain the URL: an HTTP status or a network error code. */
function reasonOf(err: unknown): string {
  const e = err as Error & { code?: string; cause?: { code?: string } };
  if (e.name === 'TimeoutError') return 'no answer in time';
  if (e.name === 'AbortError') return 'cancelled';
  return `not reachable (${e.cause?.code ?? e.code ?? 'network error'})`;
}

export interface AlertOptions {
  /** Per try; default 10 s. */
  timeoutMs?: number;
  /** Pause before the second try, doubling; default 1 s. */
  backoffMs?: number;
  fetchImpl?: typeof fetch;
}

/** Posts the alert; retries no answer, 429 and 5xx a few times; any other answer or a bad secret is final. */
export async function sendAlert(input: AlertInput, opts: AlertOptions & { signal?: AbortSignal } = {}): Promise<AlertResult> {
  let url: URL;
  try {
    const value = await readSecret(input.webhook, 'hdfs alert webhook');
    url = new URL(value);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return { sent: false, error: 'the webhook secret is not an http(s) URL', attempts: 0 };
  } catch (err) {
    // A SecretError names the reference, never the value; a URL that does not parse is not repeated.
    return { sent: false, error: err instanceof SecretError ? err.message : 'the webhook secret is not a URL', attempts: 0 };
  }
  const attempts = Math.max(1, Math.min(10, input.attempts ?? 3));
  const body = JSON.stringify(slackPayload(input));
  const doFetch = opts.fetchImpl ?? fetch;
  let last: AlertResult = { sent: false, error: 'not tried', attempts: 0 };
  for (let i = 1; i <= attempts; i++) {
    if (i > 1) await new Promise((r) => setTimeout(r, (opts.backoffMs ?? 1000) * 2 ** (i - 2)));
    if (opts.signal?.aborted) return { ...last, error: `${last.error}; cancelled` };
    try {
      const res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        redirect: 'error',
        signal: deadlineSignal(opts.timeoutMs ?? 10_000, opts.signal),
      });
      await res.body?.cancel();
      if (res.ok) return { sent: true, status: res.status, attempts: i };
      last = { sent: false, status: res.status, error: `the webhook answered HTTP ${res.status}`, attempts: i };
      if (res.status !== 429 && res.status < 500) return last;
    } catch (err) {
      last = { sent: false, error: `the webhook is ${reasonOf(err)}`, attempts: i };
    }
  }
  return { ...last, error: `${last.error} (after ${attempts} tries)` };
}

export function createAlertActivities(opts: AlertOptions = {}) {
  return {
    /** A Slack-compatible alert; never fails the move (see sendAlert). */
    async hdfsAlert(input: AlertInput): Promise<AlertResult> {
      const stop = keepBeating(() => ({ alerting: input.job }));
      try {
        return await sendAlert(input, { ...opts, signal: cancellationSignal() });
      } finally {
        stop();
      }
    },
  };
}
