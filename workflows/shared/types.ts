// Plain types shared by workflows, activities, the CLI and tests. No zod here: schemas live in scripts/plans.
import type { Signature, Signer } from './signing';

/** A move's kind (`file-sync`, `postgres-failover`, ...): the registry in scripts/moves lists them. */
export type MigrationKind = string;
/** At the `recover` gate (a step failed past the point of no return): run it again, take the way back, or record it done by hand. */
export type RecoverDecision = 'retry' | 'way-back' | 'done-by-hand';
export type DecisionValue = 'go' | 'no-go' | RecoverDecision;
/** The gate a step that failed past the point of no return opens. */
export const RECOVER_GATE = 'recover';

export interface SshHost {
  /** Alias used in the plan (dc1, dc2, ...). */
  name: string;
  address: string;
  port: number;
  user: string;
  /** The private key, by name in the worker's secret store: never the key, nor where it is. */
  identity: SecretRef;
  /** known_hosts file pinning this host's key: cutover never accepts unknown host keys. */
  knownHostsFile: string;
}

export interface ApprovalPolicy {
  approvers: string[];
  /** The person who started the migration may not say go at its gates. */
  requireSecondPerson: boolean;
  /**
   * Each approver's public key: decisions, aborts, pauses and resumes are signed and verified against it. Absent
   * only in inputs of runs started before decisions were signed (they replay as they ran); a new run refuses to start without it.
   */
  signers?: Signer[];
  /** The starter's public key when the starter is not an approver (the CLI supplies it at start): to abort, pause, resume. */
  starter?: Signer;
}

export interface GatePolicy {
  /** Milliseconds to wait for a decision; absent: wait forever. */
  timeoutMs?: number;
  /** What a timeout does: roll back, or keep waiting and notify again. */
  onTimeout: 'rollback' | 'wait';
  /** First interval between evidence refreshes while the gate waits (it doubles up to 5 min); the move's default if absent. */
  refreshEveryMs?: number;
}

export interface DnsSwitch {
  server: string;
  port: number;
  zone: string;
  /** The TSIG key (tsig-keygen output), by name in the worker's secret store. */
  tsigKey: SecretRef;
  name: string;
  ttl: number;
}

export interface Evidence {
  [key: string]: string | number | boolean | null;
}

export interface DecisionInput {
  gate: string;
  decision: DecisionValue;
  by: string;
  reason?: string;
  /** What was done by hand (required for `done-by-hand`; `reason` is taken when absent). */
  note?: string;
  /** The decider's signature over the decision (workflows/shared/signing.ts): required in runs with signed decisions. */
  signature?: Signature;
}

export interface DecisionRecord extends Omit<DecisionInput, 'signature'> {
  at: string;
  via: 'update' | 'signal';
  /** What the approver was shown when deciding (the version of the evidence they signed). */
  evidence: Evidence;
  /** The key that signed it (`SHA256:...`, as `ssh-keygen -l` prints it), when signed. */
  fingerprint?: string;
  /** The signature itself, to check again later (`ssh-keygen -Y verify`, see README). */
  signature?: Signature;
}

/** A decision, abort, pause or resume that was not taken (bounded: the last ones, see `refusedDropped`). */
export interface RefusedDecision {
  gate?: string;
  decision?: string;
  by?: string;
  reason?: string;
  at: string;
  why: string;
}

/** An abort as taken. */
export interface AbortRecord {
  by: string;
  reason: string;
  at: string;
  fingerprint?: string;
}

export interface AbortInput {
  by: string;
  reason: string;
  /** Required in runs with signed decisions. */
  signature?: Signature;
}

/** A pause or resume: who sends it, signed in runs with signed decisions. */
export interface ControlInput {
  by: string;
  reason?: string;
  signature?: Signature;
}

/** A pause or resume as taken: `held` when it came inside an outage window and waited for its end. */
export interface ControlRecord {
  action: 'pause' | 'resume';
  by: string;
  at: string;
  fingerprint?: string;
  /** A pause sent inside an outage window: applied when the window closed (`appliedAt`), or dropped by a resume. */
  held?: string;
  appliedAt?: string;
}

export type StepState = 'running' | 'done' | 'failed';

export interface StepRecord {
  name: string;
  state: StepState;
  startedAt: string;
  endedAt?: string;
  summary?: string;
  /** How often it ran (a `retry` at the recover gate runs it again). */
  attempts?: number;
  /** Recorded done by hand at the recover gate instead of run. */
  byHand?: { by: string; note: string; at: string };
  /** A read-only step (preflight, lookups): in a dry run it runs for real. */
  readOnly?: boolean;
}

export interface GateState {
  name: string;
  openedAt: string;
  deadline?: string;
  evidence: Evidence;
  /** How often approvers have been told the gate is waiting (a 'wait' timeout notifies again). */
  notifications: number;
  /** When the evidence was last read, and how often it has been read again while the gate waits. */
  refreshedAt?: string;
  refreshes?: number;
  /** `sha256:<hex>` of `evidence` (canonical JSON): what a signed decision at this gate signs. */
  evidenceDigest?: string;
  /** The versions shown before the current one (newest first, a few): a decision signed just before a refresh still counts. */
  earlier?: { digest: string; evidence: Evidence }[];
  /** At a gate whose go depends on its evidence (a clean period): why a go is not taken on the evidence shown now. */
  goRefused?: string;
  /** While the gate reads its evidence again (a move's cycle: minutes on real systems), what that read is doing now. */
  reading?: string;
  /** A go that arrived during that read: taken or refused on what the read shows; its update answers then. */
  heldGo?: { by: string; at: string };
}

/** A registered undo, as plain data: the move's undo procedure by name and its arguments. */
export interface CompensationData {
  /** The forward step this undoes, shown in status and report. */
  step: string;
  /** What an operator must do by hand if the undo fails. */
  manualAction: string;
  /** Name of the move's undo procedure. */
  undo: string;
  /** Its one argument: plain, JSON-serialisable data. */
  args: unknown;
  /**
   * Steps whose undo must have succeeded before this one may run (those registered after it, so undone before
   * it). When one of them failed or was skipped, this undo is skipped too and left to an operator: undoing it
   * then would do harm (unfreezing writers whose name still points at the new side). A step named here that
   * registered no undo (it never ran) is no obstacle.
   */
  after?: string[];
}

export interface CompensationRecord {
  step: string;
  /** `skipped`: not run because an undo it depends on (`after`) failed or was skipped; `detail` says which. */
  state: 'done' | 'failed' | 'skipped';
  startedAt: string;
  endedAt: string;
  detail?: string;
  error?: string;
}

export interface WayBackStatus {
  /** Its name in compensations and reports (`reverse-move`). */
  step: string;
  state: 'running' | 'done' | 'failed';
  startedAt: string;
  endedAt?: string;
  /** Why it runs: the no-go, abort or recover decision. */
  reason: string;
  /** When it passed its own point of no return: from then on an abort no longer stops it. */
  passedPointOfNoReturnAt?: string;
  /** An abort of the way back itself (honoured until its own point of no return). */
  abort?: AbortRecord;
}

/**
 * What a run hands to the next when it continues as new (the workflow's second argument): plain data, so the
 * next run resumes where this one waited. See workflows/lib/migration.ts for how it is used.
 */
export interface CarriedState {
  status: MigrationStatus;
  /** Results of finished steps, decided gates (`gate:<name>`) and remembered values, by name. */
  results: Record<string, { value?: unknown }>;
  /** The run's compensations, and those of named sagas (the way back's own). */
  saga: CompensationData[];
  sagas: Record<string, CompensationData[]>;
  /** Open waits by step name: when they started, how often they notified, the check's own state. */
  waits: Record<string, { startedAt: number; notifications: number; state: unknown }>;
  wayBackArmed: boolean;
  rollbackReason: string | null;
  /** Whether the story takes signed decisions only (decided in its first run; absent: a story begun unsigned). */
  signed?: boolean;
  /** Digests of signed messages taken within the signature window: a replayed one is refused. */
  seenSignatures?: { digest: string; signedAtMs: number }[];
}

export type Outcome = 'completed' | 'rolled-back' | 'manual-intervention-required';

export interface MigrationStatus {
  kind: MigrationKind;
  name: string;
  startedBy: string;
  startedAt: string;
  phase: string;
  paused: boolean;
  steps: StepRecord[];
  gate: GateState | null;
  figures: Record<string, number | string>;
  decisions: DecisionRecord[];
  /** The latest refused decisions, aborts, pauses and resumes (at most REFUSALS_KEPT); `refusedDropped` counts older ones. */
  refusedDecisions: RefusedDecision[];
  refusedDropped?: number;
  abort: AbortRecord | null;
  /** Pauses and resumes taken (the latest CONTROLS_KEPT), signed in runs with signed decisions. */
  controls?: ControlRecord[];
  /** Open while a move holds writers off (fence → switch, freeze → unfreeze): a pause then waits for its end. */
  outageWindow?: { name: string; openedAt: string } | null;
  /** A pause sent inside the outage window, applied when it closes. */
  heldPause?: ControlRecord | null;
  /** What a signed decision signs besides the decision itself (workflows/shared/signing.ts); absent in unsigned runs. */
  signing?: { namespace: string; workflowId: string; runId: string; maxAgeSeconds: number };
  compensations: CompensationRecord[];
  pointOfNoReturn: { step: string; passedAt: string | null };
  /** The designed way back past the point of no return, once it runs: a phase of its own (its steps are in `steps`). */
  wayBack: WayBackStatus | null;
  /** How many runs the story spans: a long wait continues as new (bounded history) and carries the status over. */
  runs: number;
  outcome: Outcome | null;
  /** Why the run rolled back, or what failed. */
  failure: string | null;
  /** What an operator must still do by hand when a compensation failed. */
  manualActions: string[];
  endedAt: string | null;
  /** Only in a dry run: what the run would have done. */
  dryRun?: DryRunRecord;
}

/** What a dry run (`cutover plan`) recorded: each step with what it would do, each gate, each undo registered. */
export interface DryRunRecord {
  steps: { step: string; actions: string[] }[];
  gates: string[];
  compensations: { step: string; manualAction: string; after?: string[] }[];
  /** The designed way back past the point of no return, once armed: its step and what it does. */
  wayBack?: string;
}

/** A run's status before its first step. */
export function initialStatus(o: { kind: MigrationKind; name: string; startedBy: string; startedAt: string; pointOfNoReturn: string }): MigrationStatus {
  return {
    kind: o.kind,
    name: o.name,
    startedBy: o.startedBy,
    startedAt: o.startedAt,
    phase: 'starting',
    paused: false,
    steps: [],
    gate: null,
    figures: {},
    decisions: [],
    refusedDecisions: [],
    abort: null,
    compensations: [],
    pointOfNoReturn: { step: o.pointOfNoReturn, passedAt: null },
    wayBack: null,
    runs: 1,
    outcome: null,
    failure: null,
    manualActions: [],
    endedAt: null,
  };
}

export interface HookCommand {
  host: string;
  command: string;
}

/**
 * A secret by name, resolved in the worker's own store (activities/secrets: a directory or allow-listed
 * environment variables that whoever runs the worker sets up). Never the secret, nor where it is.
 */
export interface SecretRef {
  secret: string;
}

/** A secret's name: plain lowercase, never a path (the store refuses anything else). */
export const SECRET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,127}$/;

/**
 * Every secret a run names, by where in its input ("hosts.dc1.identity", "traffic.dns.tsigKey"): preflight
 * checks each one is in the worker's store before anything changes, however late the run would use it.
 */
export function secretRefs(value: unknown, field = '', out: Record<string, SecretRef> = {}, depth = 0): Record<string, SecretRef> {
  if (depth > 12 || value === null || typeof value !== 'object') return out;
  const keys = Object.keys(value);
  const v = value as Record<string, unknown>;
  if (keys.length === 1 && keys[0] === 'secret' && typeof v.secret === 'string') {
    out[field] = { secret: v.secret };
    return out;
  }
  for (const k of keys) secretRefs(v[k], Array.isArray(value) ? `${field}[${k}]` : field ? `${field}.${k}` : k, out, depth + 1);
  return out;
}

/** How an operator fixing a DNS switch by hand finds the key (runs started before secrets were named had a file). */
export function tsigKeyLabel(dns: DnsSwitch): string {
  const old = (dns as unknown as { tsigKeyFile?: string }).tsigKeyFile;
  return dns.tsigKey ? `<TSIG key: secret "${dns.tsigKey.secret}">` : (old ?? '<TSIG key>');
}

