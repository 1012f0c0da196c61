// The lifecycle every data move runs on: status (query, search attributes, current details), steps, gates
// (update + signal), pause/resume, abort, compensations as data, the point of no return, the recover gate, the
// way back, and continue-as-new.
//
// A workflow builds one Migration, then calls `migration.run(async () => { ...flat list of phases... })`.
//
// Before the point of no return, a failure, a no-go, a rolling-back gate timeout or an abort runs the saga:
// the registered compensations, LIFO, each `{ step, undo: <name of one of the move's undo procedures>, args }`.
// After it, nothing is undone: a step that fails opens the `recover` gate (retry it, take the way back, or
// record it done by hand with a note) and the run stays open until someone decides; a no-go, an abort or a
// `way-back` decision runs the way back, a phase of its own (`options.wayBack`, armed by the move once it
// exists) with its own steps, its own cancellable scope (abort and pause work until its own point of no
// return) and the same wait policies as the forward path.
//
// Continue-as-new. Only waits continue as new: a gate's loop and `waitUntil`, when the server suggests it
// (`workflowInfo().continueAsNewSuggested`, checked at every wake-up) and no other step is running. They throw
// with a copy of the carried state (CarriedState: the whole status, step results, the saga and named sagas as
// data, open waits, whether the way back is armed, the rollback reason); `run` ends the run with
// `continueAsNew(input, carried)`, so a workflow's second argument is the carried state. The next run executes
// the same flat list of phases from the top in fast-forward: a finished step returns its stored result without
// running, a decided gate returns its decision, `remember`ed values come back, and registering compensations,
// figures, checkpoints, pauses between steps (`sleep`) and the point of no return are skipped (the carried
// state has them). Fast-forward ends at the first step or gate that is not finished: by construction the one
// the previous run was waiting in (a step mid-`waitUntil`, whose wait state is carried; a step waiting at the
// recover gate; or an open gate, with its evidence, deadline, notifications and refresh schedule). A run that
// continued as new inside the way back skips the forward path and resumes the way back the same way. So moves
// must keep between-step code free of effects (activities only in steps, `remember`, or evidence reads), and
// step and gate names unique in a run. The status query answers with the whole story across runs (`runs`).
//
// Gates whose go depends on their evidence (a clean period that a later look can break) give their evidence
// source a go check (`goRefusal`): while the evidence shown fails it the gate stays open, takes a no-go, and
// refuses a go (recorded among the refused decisions, and the update's answer); a go signed over a version shown
// before one that failed it never counts; a go sent while the evidence is read again waits for that read.
//
// Signed decisions (patch `signed-decisions`, decided once in a story's first run and carried). Every decision,
// abort, pause and resume carries an SSH signature (workflows/shared/signing.ts) that the workflow verifies
// itself, in pure code (./sshsig.ts, ./gates.ts `authenticate`): by the key the plan lists for the person named,
// over this workflow id and first run id, the gate, the decision, reason and note, the digest of the evidence the
// gate showed, and a time no older than the window (workflow time); a message taken once is refused again. An
// update's validator refuses at once; a signal is refused and recorded (the latest REFUSALS_KEPT, with a count of
// older ones). Only the starter and approvers may abort, pause or resume. A move marks its outage windows
// (`openOutageWindow` / `closeOutageWindow`: fence → switch, freeze → unfreeze): a pause sent inside one is held
// and applied when it closes, so nobody can hold writers off by pausing. Stories begun before the patch (their
// histories, and runs continued from them) take unsigned decisions as they did.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setCurrentDetails,
  continueAsNew,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { ErrorType } from '../shared/errors';
import { abortSignal, decideUpdate, decisionSignal, pauseSignal, resumeSignal, statusQuery } from '../shared/messages';
import { searchAttributeNames } from '../shared/index';
import { evidenceDigest, SIGNATURE_MAX_AGE_MS, SIGNATURE_MAX_SKEW_MS, SIGNING_NAMESPACE } from '../shared/signing';
import {
  initialStatus,
  type AbortInput,
  type AbortRecord,
  type ApprovalPolicy,
  type ControlInput,
  type ControlRecord,
  type DecisionInput,
  type DecisionRecord,
  type GateState,
  RECOVER_GATE,
  type CompensationData,
  type CarriedState,
  type CompensationRecord,
  type Evidence,
  type GatePolicy,
  type WayBackStatus,
  type MigrationKind,
  type MigrationStatus,
  type StepRecord,
  type RefusedDecision,
} from '../shared/types';
import type { Activities } from '../../activities';
import { compensations } from './activity-options';
import { dryRunRecord, isDryRun, recordAction, recordStep } from './dry-run';
import { authenticate, controlRefusal, refusalReason, type Authenticated } from './gates';
import { messageOf, Saga, type Compensation, type UndoProcedures } from './saga';

const phaseKey = defineSearchAttributeKey(searchAttributeNames.phase, SearchAttributeType.KEYWORD);
const kindKey = defineSearchAttributeKey(searchAttributeNames.kind, SearchAttributeType.KEYWORD);
const nameKey = defineSearchAttributeKey(searchAttributeNames.name, SearchAttributeType.KEYWORD);

const artifacts = proxyActivities<Activities>(compensations);

/** Patch id (workflow versioning): the story takes signed decisions, holds pauses in outage windows, keeps a report per run. */
const SIGNED_DECISIONS = 'signed-decisions';
/** Refused decisions kept in status (older ones are counted in `refusedDropped`). */
export const REFUSALS_KEPT = 50;
/** Pauses and resumes kept in status. */
const CONTROLS_KEPT = 50;
/** Evidence versions a gate keeps besides the current one, for decisions signed just before a refresh. */
const EARLIER_EVIDENCE_KEPT = 3;
/** Replay memory bound (it is pruned to the signature window first). */
const SEEN_KEPT = 1000;

/** Thrown inside the forward path to ask for a rollback (no-go, gate timeout). */
class RollbackRequested extends Error {}
/** Thrown from a step whose failure past the point of no return was answered with `way-back`. */
class WayBackRequested extends RollbackRequested {}
/** Thrown from a wait or a gate when the server suggests continue-as-new: carries the state as it was there. */
/** A step that had failed and waited at the recover gate when the previous run continued as new. */
class CarriedFailure extends Error {}
class ContinueAsNewRequested extends Error {
  constructor(readonly carried: CarriedState) {
    super('continue as new');
  }
}

/** True for the unwinding of a run that continues as new: catch blocks of moves let it through untouched. */
export function continuingAsNew(err: unknown): boolean {
  return err instanceof ContinueAsNewRequested;
}

/**
 * Evidence a gate shows and keeps fresh: read when the gate opens, then again after `everyMs` (doubling up to
 * `maxEveryMs`; without it the interval stays fixed) while it waits. Reading stops when the gate closes; a decision records a copy of what was shown.
 */
export interface EvidenceSource {
  read: () => Promise<Evidence>;
  everyMs: number;
  maxEveryMs?: number;
  /**
   * For a gate whose go depends on what its evidence says (a clean period): why a go cannot be taken on this
   * version of the evidence, or null. The gate stays open and takes a no-go as ever; a go is taken only while the
   * evidence shown passes, and (signed) only over a version shown since the last one that did not; a go sent while
   * the evidence is read again waits for that read and is taken or refused on it. Refusals are recorded.
   */
  goRefusal?: (evidence: Evidence) => string | null;
}

/** A go that arrived while its gate read the evidence again: taken or refused on what that read shows. */
interface HeldGo {
  record: DecisionRecord;
  settle: (refused: string | null) => void;
}

export interface MigrationOptions<U extends UndoProcedures = UndoProcedures> {
  kind: MigrationKind;
  name: string;
  startedBy: string;
  approval: ApprovalPolicy;
  /** Name of the step after which the forward path cannot be undone. */
  pointOfNoReturn: string;
  /** Where the run's report is stored at the end (GCS). */
  artifacts?: { bucket: string; prefix: string };
  /** The move's undo procedures, by name: compensations name one of them and give its argument. */
  undos: U;
  /**
   * The designed way back past the point of no return (a reverse move): a phase of its own, run when a no-go,
   * an abort or a `way-back` decision asks for it once the move has armed it (`armWayBack`). Its steps are
   * ordinary steps; an abort stops it until it calls `wayBackPastPointOfNoReturn`; it returns its report line.
   */
  wayBack?: { step: string; manualAction: string; run: () => Promise<string> };
  /** The workflow's input, handed again to the next run when this one continues as new. */
  input: unknown;
  /** What the previous run carried over (the workflow's second argument), absent in the first run. */
  carried?: CarriedState;
}

export class Migration<U extends UndoProcedures = UndoProcedures> {
  readonly status: MigrationStatus;
  private readonly saga: Saga;
  private forwardScope: CancellationScope | null = null;
  private pendingDecision: DecisionRecord | null = null;
  private rollbackReason: string | null = null;
  /** Set once the run undoes or reverses: a failure then is reported, not offered at the recover gate. */
  private rollingBack = false;
  private wayBackIsArmed = false;
  private wayBackScope: CancellationScope | null = null;
  /** Finished steps, decided gates and remembered values: what a resumed run returns instead of running again. */
  private readonly results: CarriedState['results'];
  private readonly sagas: CarriedState['sagas'];
  private readonly waits: CarriedState['waits'];
  /** A resumed run going through what the previous runs did, up to where the last one waited. */
  private fastForward: boolean;
  /** Steps whose function is running now: a run continues as new only when nothing but the wait itself runs. */
  private inFlight = 0;
  /** The story takes signed decisions only (see the file comment). */
  private readonly signed: boolean;
  /** Digests of the signed messages taken lately: a replayed one is refused. */
  private seen: NonNullable<CarriedState['seenSignatures']>;
  /** The open gate's go check (EvidenceSource.goRefusal), whether it is reading its evidence, and a go waiting for that read. */
  private goCheck: ((evidence: Evidence) => string | null) | null = null;
  private readingEvidence = false;
  private heldGo: HeldGo | null = null;

  constructor(private readonly options: MigrationOptions<U>) {
    const carried = options.carried;
    this.status = carried
      ? { ...carried.status, runs: carried.status.runs + 1 }
      : initialStatus({
          kind: options.kind,
          name: options.name,
          startedBy: options.startedBy,
          startedAt: new Date().toISOString(),
          pointOfNoReturn: options.pointOfNoReturn,
        });
    this.results = carried?.results ?? {};
    this.sagas = carried?.sagas ?? {};
    this.waits = carried?.waits ?? {};
    this.wayBackIsArmed = carried?.wayBackArmed ?? false;
    this.rollbackReason = carried?.rollbackReason ?? null;
    this.fastForward = carried !== undefined;
    // Decided once per story: a run continued from one begun before the patch goes on unsigned, as it began.
    this.signed = carried ? carried.signed === true : patched(SIGNED_DECISIONS);
    this.seen = carried?.seenSignatures ?? [];
    if (this.signed && !options.approval.signers?.length) {
      throw ApplicationFailure.create({
        type: ErrorType.InvalidPlan,
        message: 'approval.signers is missing: decisions are signed, so the input must list each approver with a public key (start runs with `cutover start`)',
        nonRetryable: true,
      });
    }
    if (this.signed && !carried) {
      this.status.signing = { namespace: SIGNING_NAMESPACE, workflowId: workflowInfo().workflowId, runId: workflowInfo().firstExecutionRunId, maxAgeSeconds: SIGNATURE_MAX_AGE_MS / 1000 };
    }
    this.saga = new Saga(carried?.saga ?? [], this.options.undos, (record) => this.recordCompensation(record), () => this.fastForward);
    if (isDryRun()) this.status.dryRun = dryRunRecord();
    this.installHandlers();
  }

  private installHandlers(): void {
    setHandler(statusQuery, () => this.status);
    setHandler(
      decideUpdate,
      (input: DecisionInput) => this.takeDecision(input, 'update'),
      {
        validator: (input: DecisionInput) => {
          const why = this.refusal(input);
          if (why) throw new Error(why);
        },
      },
    );
    setHandler(decisionSignal, (input: DecisionInput) => {
      const why = this.refusal(input) ?? this.goRefusal(input);
      if (why) {
        this.refuse(input ?? {}, input?.decision, why);
        return;
      }
      void this.takeDecision(input, 'signal');
    });
    setHandler(abortSignal, (input: AbortInput) => {
      if (this.status.outcome) return;
      const auth = this.authorizeControl(input, 'abort');
      if (auth.why !== undefined) return this.refuse(input ?? {}, 'abort', auth.why);
      const record: AbortRecord = { by: input.by, reason: input.reason, at: new Date().toISOString(), ...(auth.ok ? { fingerprint: auth.ok.fingerprint } : {}) };
      const wayBack = this.status.wayBack;
      if (wayBack?.state === 'running') {
        // The way back obeys abort like the forward path: until its own point of no return.
        if (wayBack.abort || wayBack.passedPointOfNoReturnAt) return;
        wayBack.abort = record;
        log.warn('way back aborted', { by: input.by, reason: input.reason });
        this.wayBackScope?.cancel();
        this.publish();
        return;
      }
      if (this.status.abort) return;
      this.status.abort = record;
      this.requestRollback(`aborted by ${input.by}: ${input.reason}`);
    });
    setHandler(pauseSignal, (input: ControlInput) => this.control('pause', input));
    setHandler(resumeSignal, (input: ControlInput) => this.control('resume', input));
  }

  private refusal(input: DecisionInput): string | null {
    // A no-go is taken even while a go waits for the evidence being read (it replaces that go).
    const replacesHeldGo = this.heldGo !== null && input?.decision === 'no-go';
    const why = refusalReason(input, {
      openGate: this.pendingDecision && !replacesHeldGo ? null : this.status.gate,
      approval: this.options.approval,
      startedBy: this.options.startedBy,
      finished: this.status.outcome !== null,
      wayBack: this.wayBackArmed(),
    });
    if (why || !this.signed) return why;
    return this.authenticate(input).why ?? null;
  }

  /** Verifies a gate decision's signature against the open gate's evidence (signed stories only). */
  private authenticate(input: DecisionInput): ReturnType<typeof authenticate> {
    const gate = this.status.gate;
    const shown = gate ? [gate.evidenceDigest ?? evidenceDigest(gate.evidence), ...(gate.earlier ?? []).map((e) => e.digest)] : [];
    return authenticate(
      { gate: input.gate, decision: input.decision, by: input.by, reason: input.reason, note: input.note },
      input.signature,
      this.signatureContext(shown),
    );
  }

  private signatureContext(evidenceDigests: string[]) {
    return {
      workflowId: workflowInfo().workflowId,
      runId: workflowInfo().firstExecutionRunId,
      nowMs: Date.now(),
      approval: this.options.approval,
      evidenceDigests,
      seen: (digest: string) => this.seen.some((e) => e.digest === digest),
    };
  }

  /**
   * Whether an abort, pause or resume may be taken: in signed stories from the starter or an approver, signed by
   * their key. Unsigned stories take them from anyone, as they did.
   */
  private authorizeControl(input: ControlInput | AbortInput, action: 'abort' | 'pause' | 'resume'): { ok?: Authenticated; why?: string } {
    if (!this.signed) return {};
    const why = controlRefusal(input, { approval: this.options.approval, startedBy: this.options.startedBy });
    if (why) return { why };
    if (action === 'abort' && !input.reason) return { why: 'an abort needs a reason' };
    const auth = authenticate({ gate: null, decision: action, by: input.by, reason: input.reason }, input.signature, this.signatureContext([]));
    if (auth.why !== undefined) return { why: auth.why };
    this.rememberSignature(auth.ok);
    return { ok: auth.ok };
  }

  /** Keeps a taken message's digest for the signature window (and no longer: older ones are refused by age). */
  private rememberSignature(auth: Authenticated): void {
    const oldest = Date.now() - SIGNATURE_MAX_AGE_MS - SIGNATURE_MAX_SKEW_MS;
    this.seen = this.seen.filter((e) => e.signedAtMs >= oldest).slice(-(SEEN_KEPT - 1));
    this.seen.push({ digest: auth.digest, signedAtMs: Date.parse(auth.signedAt) });
  }

  /** Records a refusal; the list keeps the latest REFUSALS_KEPT (no free text is kept beyond a few hundred characters). */
  private refuse(input: { gate?: unknown; by?: unknown; reason?: unknown }, decision: unknown, why: string): void {
    const text = (v: unknown, max: number) => (typeof v === 'string' ? (v.length > max ? `${v.slice(0, max)}…` : v) : undefined);
    const entry: RefusedDecision = {
      ...(text(input.gate, 100) !== undefined ? { gate: text(input.gate, 100) } : {}),
      ...(text(decision, 40) !== undefined ? { decision: text(decision, 40) } : {}),
      ...(text(input.by, 100) !== undefined ? { by: text(input.by, 100) } : {}),
      ...(text(input.reason, 300) !== undefined ? { reason: text(input.reason, 300) } : {}),
      at: new Date().toISOString(),
      why,
    };
    const list = this.status.refusedDecisions;
    list.push(entry);
    if (list.length > REFUSALS_KEPT) {
      const dropped = list.splice(0, list.length - REFUSALS_KEPT).length;
      this.status.refusedDropped = (this.status.refusedDropped ?? 0) + dropped;
    }
    log.warn('refused', { gate: entry.gate, decision: entry.decision, by: entry.by, why });
    this.publish();
  }

  /** Pause or resume. In a signed story, a pause inside an outage window is held until the window closes. */
  private control(action: 'pause' | 'resume', input: ControlInput): void {
    if (!this.signed) {
      this.status.paused = action === 'pause';
      log.info(action === 'pause' ? 'paused' : 'resumed', { by: input?.by });
      this.publish();
      return;
    }
    const auth = this.authorizeControl(input, action);
    if (auth.why !== undefined) return this.refuse(input ?? {}, action, auth.why);
    const record: ControlRecord = { action, by: input.by, at: new Date().toISOString(), ...(auth.ok ? { fingerprint: auth.ok.fingerprint } : {}) };
    const window = this.status.outageWindow;
    if (action === 'pause' && window) {
      // Pausing here would hold writers off (the fence, the freeze) for as long as nobody resumes.
      record.held = `sent inside the outage window ${window.name}: applied when it closes`;
      this.status.heldPause = record;
      log.warn('pause held until the outage window closes', { by: input.by, window: window.name });
    } else {
      if (action === 'resume' && this.status.heldPause) {
        this.status.heldPause.held = `dropped: resumed by ${input.by} before the outage window closed`;
        this.status.heldPause = null;
      }
      this.status.paused = action === 'pause';
      log.info(action === 'pause' ? 'paused' : 'resumed', { by: input.by });
    }
    const controls = (this.status.controls ??= []);
    controls.push(record);
    if (controls.length > CONTROLS_KEPT) controls.splice(0, controls.length - CONTROLS_KEPT);
    this.publish();
  }

  /**
   * From here writers are held off (the fence, the freeze) until `closeOutageWindow`: a pause sent meanwhile is
   * held and applied when the window closes. Abort still works inside (it undoes, or takes the way back).
   */
  openOutageWindow(name: string): void {
    if (!this.signed) return;
    const open = this.status.outageWindow;
    this.status.outageWindow = { name, openedAt: open?.name === name ? open.openedAt : new Date().toISOString() };
    this.publish();
  }

  /** The outage is over: a pause held meanwhile is applied now (the next step boundary honours it). */
  closeOutageWindow(): void {
    if (!this.status.outageWindow) return;
    this.status.outageWindow = null;
    const held = this.status.heldPause;
    if (held) {
      held.appliedAt = new Date().toISOString();
      this.status.heldPause = null;
      this.status.paused = true;
      log.info('held pause applied: the outage window closed', { by: held.by });
    }
    this.publish();
  }

  /** Past the point of no return, a way back exists once the move has armed it. */
  private wayBackArmed(): boolean {
    return this.status.pointOfNoReturn.passedAt !== null && this.wayBackIsArmed && this.options.wayBack !== undefined;
  }

  /**
   * A decision that passed the validator's checks. At a gate with a go check (EvidenceSource.goRefusal) a go may
   * still be refused: recorded, and the update's answer; or held while the evidence is read again, the update
   * answering once that read shows whether it is taken. Everywhere else: taken at once, as it always was.
   */
  private takeDecision(input: DecisionInput, via: 'update' | 'signal'): DecisionRecord | Promise<DecisionRecord> {
    const refused = this.goRefusal(input); // a signal's was checked by its handler
    if (refused) {
      this.refuse(input, input.decision, refused);
      throw goNotTaken(refused);
    }
    if (this.heldGo && input.decision === 'no-go') this.withdrawHeldGo(`a no-go by ${input.by} came while it waited for the evidence being read`);
    const record = this.applyDecision(input, via);
    if (!(this.goCheck && this.readingEvidence && input.decision === 'go')) return record;
    log.info('go held until the evidence being read is shown', { gate: input.gate, by: input.by });
    // In status while it waits: `cutover approve` tells the person what their go waits for.
    if (this.status.gate) this.status.gate.heldGo = { by: record.by, at: record.at };
    this.publish();
    if (via === 'signal') {
      this.heldGo = { record, settle: () => undefined };
      return record;
    }
    return new Promise<DecisionRecord>((resolve, reject) => {
      this.heldGo = { record, settle: (why) => (why ? reject(goNotTaken(why)) : resolve(record)) };
    });
  }

  /**
   * What the open gate's evidence read is doing now (a move's cycle: `cycle #4 (refresh, 3/5 datasets done)`),
   * shown in status while that read runs: a go held for it says what it waits for. Ignored outside such a read.
   */
  reading(what: string): void {
    const gate = this.status.gate;
    if (!this.readingEvidence || !gate) return;
    gate.reading = what;
    this.publish();
  }

  /**
   * Why the open gate's go check refuses this go now: the evidence shown does not pass it, or (signed) the go was
   * signed over an earlier version and that version or one shown after it did not.
   */
  private goRefusal(input: DecisionInput): string | null {
    const gate = this.status.gate;
    if (!this.goCheck || !gate || input.decision !== 'go' || input.gate !== gate.name) return null;
    const now = this.goCheck(gate.evidence);
    if (now) return `gate "${gate.name}" takes no go now: ${now}`;
    if (!this.signed) return null;
    const earlier = gate.earlier ?? [];
    const signedAt = earlier.findIndex((e) => e.digest === input.signature?.evidence);
    if (signedAt < 0) return null; // the version shown now (authenticate checked that it is one of those shown)
    const own = this.goCheck(earlier[signedAt].evidence);
    if (own) return `the evidence signed took no go: ${own}; sign what gate "${gate.name}" shows now`;
    for (const later of earlier.slice(0, signedAt)) {
      const why = this.goCheck(later.evidence);
      if (why) return `the evidence signed was shown before evidence that took no go (${why}): a go signed before then no longer counts; sign what gate "${gate.name}" shows now`;
    }
    return null;
  }

  /**
   * The read a held go waited for is in: taken if the fresh evidence passes the go check, else withdrawn from the
   * decisions and recorded as refused (the update answers either way). Returns whether the go still stands.
   * Without `fresh` the gate closed before the read was shown (an abort): the go is refused.
   */
  private settleHeldGo(fresh: Evidence | null): boolean {
    const held = this.heldGo;
    if (!held) return true;
    if (!fresh) {
      // Closed by an abort (or a rolling-back timeout) while it read: say so, not what a read never showed.
      this.withdrawHeldGo(`the gate closed before the evidence it waited for was read${this.rollbackReason ? ` (${this.rollbackReason})` : ''}`);
      return false;
    }
    const why = this.goCheck?.(fresh) ?? null;
    if (!why) {
      this.releaseHeldGo().settle(null);
      return true;
    }
    this.withdrawHeldGo(`it arrived while the evidence was read again, and that read says: ${why}`);
    return false;
  }

  /** The held go, no longer held (nor shown as held in status). */
  private releaseHeldGo(): HeldGo {
    const held = this.heldGo!;
    this.heldGo = null;
    delete this.status.gate?.heldGo;
    return held;
  }

  /** The held go is not acted on: out of the decisions, recorded as refused, and its update answered. */
  private withdrawHeldGo(why: string): void {
    const held = this.releaseHeldGo();
    const refused = `gate "${held.record.gate}" takes no go now: ${why}`;
    const at = this.status.decisions.indexOf(held.record);
    if (at >= 0) this.status.decisions.splice(at, 1);
    if (this.pendingDecision === held.record) this.pendingDecision = null;
    this.refuse(held.record, 'go', refused);
    held.settle(refused);
  }

  private applyDecision(input: DecisionInput, via: 'update' | 'signal'): DecisionRecord {
    if (this.signed) return this.applySignedDecision(input, via);
    const record: DecisionRecord = {
      gate: input.gate,
      decision: input.decision,
      by: input.by,
      reason: input.reason,
      ...(input.decision === 'done-by-hand' ? { note: input.note ?? input.reason } : {}),
      at: new Date().toISOString(),
      via,
      // A copy: what the approver saw when deciding, not what a later refresh shows.
      evidence: { ...(this.status.gate?.evidence ?? {}) },
    };
    this.status.decisions.push(record);
    this.pendingDecision = record;
    return record;
  }

  /**
   * A verified decision (the validator or the signal handler checked it just now, in the same activation): recorded
   * with the key's fingerprint, the signature, and the version of the evidence that was signed.
   */
  private applySignedDecision(input: DecisionInput, via: 'update' | 'signal'): DecisionRecord {
    const auth = this.authenticate(input);
    if (auth.ok) this.rememberSignature(auth.ok);
    const gate = this.status.gate;
    const signedVersion = gate?.earlier?.find((e) => e.digest === auth.ok?.evidence);
    const record: DecisionRecord = {
      gate: input.gate,
      decision: input.decision,
      by: input.by,
      ...(input.reason ? { reason: input.reason } : {}),
      ...(input.decision === 'done-by-hand' ? { note: input.note ?? input.reason } : {}),
      at: new Date().toISOString(),
      via,
      evidence: { ...(signedVersion?.evidence ?? gate?.evidence ?? {}) },
      ...(auth.ok ? { fingerprint: auth.ok.fingerprint } : {}),
      ...(input.signature ? { signature: { sshsig: input.signature.sshsig, signedAt: input.signature.signedAt, ...(input.signature.evidence ? { evidence: input.signature.evidence } : {}) } } : {}),
    };
    this.status.decisions.push(record);
    this.pendingDecision = record;
    return record;
  }

  /** Abort before the point of no return rolls back; after it, the forward path finishes (or a reverse move runs). */
  private requestRollback(reason: string): void {
    if (this.rollbackReason) return;
    this.rollbackReason = reason;
    if (this.status.pointOfNoReturn.passedAt === null) this.forwardScope?.cancel();
    this.publish();
  }

  // ---- continue-as-new ---------------------------------------------------------------------------

  /** Whether to continue as new now: the server suggests it and nothing runs but the waiting step (`self`). */
  private continueAsNewDue(self: 0 | 1): boolean {
    return workflowInfo().continueAsNewSuggested && this.inFlight === self;
  }

  /** The state the next run starts from, copied as it is at the wait (unwinding changes nothing in it). */
  private carry(): CarriedState {
    return JSON.parse(
      JSON.stringify({
        status: this.status,
        results: this.results,
        saga: this.saga.stack,
        sagas: this.sagas,
        waits: this.waits,
        wayBackArmed: this.wayBackIsArmed,
        rollbackReason: this.rollbackReason,
        ...(this.signed ? { signed: true, seenSignatures: this.seen } : {}),
      } satisfies CarriedState),
    );
  }

  /** Marks the end of a resumed run's fast-forward: from here on it does what the previous run was doing. */
  private resumed(): void {
    if (!this.fastForward) return;
    this.fastForward = false;
    this.setPhase(this.status.phase);
    log.info('resumed after continue-as-new', { runs: this.status.runs, phase: this.status.phase });
  }

  // ---- used by workflows ------------------------------------------------------------------------

  /**
   * Run the forward path; on failure, no-go or abort, undo what was done. Returns the final status. A wait that
   * continues as new ends here: the next run gets the same input and the carried state.
   */
  async run(forward: () => Promise<void>): Promise<MigrationStatus> {
    try {
      return await this.runToEnd(forward);
    } catch (err) {
      if (!(err instanceof ContinueAsNewRequested)) throw err;
      log.info('continuing as new', { runs: err.carried.status.runs, phase: err.carried.status.phase });
      return await continueAsNew<(input: unknown, carried: CarriedState) => Promise<MigrationStatus>>(this.options.input, err.carried);
    }
  }

  private async runToEnd(forward: () => Promise<void>): Promise<MigrationStatus> {
    upsertSearchAttributes([
      { key: kindKey, value: this.options.kind },
      { key: nameKey, value: this.options.name },
    ]);
    this.publish();
    // A run resumed inside the way back goes straight back to it.
    const inWayBack = this.status.wayBack?.state === 'running';
    try {
      this.forwardScope = new CancellationScope({ cancellable: true });
      await this.forwardScope.run(inWayBack ? () => Promise.reject(new RollbackRequested(this.rollbackReason ?? 'way back')) : forward);
      this.status.outcome = 'completed';
      this.setPhase('completed');
      this.status.endedAt = new Date().toISOString();
      await this.archive();
      this.publish();
      return this.status;
    } catch (err) {
      if (err instanceof ContinueAsNewRequested) throw err;
      if (err instanceof WayBackRequested) this.requestRollback(err.message);
      if (this.status.pointOfNoReturn.passedAt !== null && !this.rollbackReason) {
        // Past the point of no return there is nothing to undo: the operator decides on the reverse move.
        this.status.failure = messageOf(err);
        this.status.outcome = 'manual-intervention-required';
        this.status.manualActions.push(`finish the forward path by hand: ${messageOf(err)}`);
        return await this.end(err);
      }
      this.rollingBack = true;
      this.status.failure = this.rollbackReason ?? messageOf(err);
      if (!this.rollbackReason && !isCancellation(err) && !(err instanceof RollbackRequested)) {
        log.error('forward step failed, rolling back', { error: this.status.failure });
      }
      if (!inWayBack) this.setPhase('rolling-back');
      if (this.wayBackArmed()) await this.runWayBack();
      const { manualActions } = await this.saga.compensate();
      this.status.manualActions.push(...manualActions);
      this.status.outcome = this.status.manualActions.length > 0 ? 'manual-intervention-required' : 'rolled-back';
      return await this.end(err);
    }
  }

  private async end(cause: unknown): Promise<never> {
    this.setPhase(this.status.outcome!);
    this.status.gate = null;
    if (this.signed) {
      this.status.outageWindow = null;
      if (this.status.heldPause) this.status.heldPause.held = `${this.status.heldPause.held}; dropped: the run ended first`;
      this.status.heldPause = null;
    }
    this.status.endedAt = new Date().toISOString();
    await this.archive();
    this.publish();
    const type = this.status.outcome === 'rolled-back' ? ErrorType.RolledBack : ErrorType.ManualInterventionRequired;
    const message =
      type === ErrorType.RolledBack
        ? `rolled back: ${this.status.failure}`
        : `manual intervention required: ${this.status.manualActions.join('; ')}`;
    throw ApplicationFailure.create({
      type,
      message,
      nonRetryable: true,
      details: [this.status],
      cause: cause instanceof Error && !isCancellation(cause) ? cause : undefined,
    });
  }

  /**
   * The way back as a phase: in a cancellable scope of its own (an abort stops it until its own point of no
   * return), its steps in status like any others, its outcome recorded as a compensation of the move.
   */
  private async runWayBack(): Promise<void> {
    const wb = this.options.wayBack!;
    const wayBack: WayBackStatus =
      this.status.wayBack?.state === 'running'
        ? this.status.wayBack
        : { step: wb.step, state: 'running', startedAt: new Date().toISOString(), reason: this.rollbackReason ?? 'way back' };
    const startedAt = wayBack.startedAt;
    this.status.wayBack = wayBack;
    // The forward path's outage window (if a failure in it led here) is over: the way back marks its own.
    this.closeOutageWindow();
    this.publish();
    let record: CompensationRecord;
    try {
      this.wayBackScope = new CancellationScope({ cancellable: true });
      const detail: string = await this.wayBackScope.run(wb.run);
      wayBack.state = 'done';
      record = { step: wb.step, state: 'done', startedAt, endedAt: new Date().toISOString(), detail };
    } catch (err) {
      if (err instanceof ContinueAsNewRequested) throw err;
      wayBack.state = 'failed';
      const aborted = wayBack.abort ? `aborted by ${wayBack.abort.by}: ${wayBack.abort.reason}; ` : '';
      record = { step: wb.step, state: 'failed', startedAt, endedAt: new Date().toISOString(), error: aborted + messageOf(err) };
      this.status.manualActions.push(wb.manualAction);
    } finally {
      this.wayBackScope = null;
    }
    wayBack.endedAt = new Date().toISOString();
    this.status.compensations.push(record);
    this.publish();
  }

  /** Arm the way back: from here on a no-go, an abort or a `way-back` decision runs it. */
  armWayBack(): void {
    this.wayBackIsArmed = true;
    if (isDryRun() && this.options.wayBack) dryRunRecord().wayBack = `${this.options.wayBack.step}: ${this.options.wayBack.manualAction}`;
    this.publish();
  }

  /** The way back's own point of no return: what `fn` starts is finished whatever happens, an abort included. */
  async wayBackPastPointOfNoReturn<T>(fn: () => Promise<T>): Promise<T> {
    if (this.status.wayBack) this.status.wayBack.passedPointOfNoReturnAt = new Date().toISOString();
    this.publish();
    return CancellationScope.nonCancellable(fn);
  }

  /** Store the run's record as an artifact; a storage problem is reported, it does not change the outcome. */
  private async archive(): Promise<void> {
    const a = this.options.artifacts;
    if (!a || isDryRun()) return;
    // One object per story (first run id): a second run with the same workflow id never overwrites the first's report.
    const { workflowId, firstExecutionRunId } = workflowInfo();
    const object = `${a.prefix.replace(/\/+$/, '')}/${workflowId}${this.signed ? `/${firstExecutionRunId}` : ''}.json`;
    try {
      const stored = await CancellationScope.nonCancellable(() => artifacts.storeReport({ bucket: a.bucket, object, report: this.status }));
      this.status.figures.reportUri = stored.uri;
    } catch (err) {
      this.status.figures.reportError = messageOf(err);
      log.warn('report not stored', { bucket: a.bucket, object, error: messageOf(err) });
    }
  }

  /**
   * A named saga whose records join the run's compensations in status. The run has one; the way back takes
   * another, to undo its own steps if it fails half-way. Carried across continue-as-new by name.
   */
  newSaga(name: string): Saga {
    const stack = (this.sagas[name] ??= []);
    return new Saga(stack, this.options.undos, (record) => this.recordCompensation(record), () => this.fastForward);
  }

  private recordCompensation(record: CompensationRecord): void {
    this.status.compensations.push(record);
    this.publish();
  }

  /** Register the undo of the step about to run (LIFO): the name of one of the move's undo procedures and its argument. */
  compensate(c: Compensation<U>): void {
    if (isDryRun()) dryRunRecord().compensations.push({ step: c.step, manualAction: c.manualAction, ...(c.after?.length ? { after: c.after } : {}) });
    this.saga.add(c as CompensationData);
  }

  /** Whether the step (or `remember`ed value) `name` is finished in the whole story, done by hand included. */
  finished(name: string): boolean {
    return name in this.results;
  }

  /**
   * `during` with `watch` running beside it: the watch starts first and is cancelled when `during` ends,
   * however it ends (a decision, a failure, continue-as-new). A watch keeps a live system safe while the run
   * waits (the PostgreSQL move relaxes a synchronous standby that fell away while it soaks and waits at
   * `complete`); it is not a step (a run may continue as new while it runs: the next run starts it again when
   * it reaches `during`), and its failure is logged, never the run's. Without a watch, `during` alone.
   */
  async alongside<T>(watch: (() => Promise<void>) | null, during: () => Promise<T>): Promise<T> {
    if (!watch) return during();
    const scope = new CancellationScope();
    const watching = scope.run(watch).catch((err) => {
      if (!isCancellation(err)) log.warn('a watch beside the run ended with an error', { error: messageOf(err) });
    });
    try {
      return await during();
    } finally {
      scope.cancel();
      await watching;
    }
  }

  /** `fn`'s result, computed once in the whole story: a resumed run gets the stored value. */
  async remember<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (key in this.results) return this.results[key].value as T;
    const value = await fn();
    this.results[key] = { value };
    return value;
  }

  /**
   * Plain-data state of the move that changes as the run goes (counters, a bounded history of cycles): the same
   * object in every run of the story, carried across continue-as-new with the step results. Mutate it only in
   * steps, waits and evidence reads (never between steps: a resumed run fast-forwards past those), keep it small.
   */
  keep<T extends object>(key: string, initial: () => T): T {
    const k = `keep:${key}`;
    if (!(k in this.results)) this.results[k] = { value: initial() };
    return this.results[k].value as T;
  }

  /** A pause between steps (not a wait for a condition): skipped by a resumed run that went past it already; a dry run only notes it. */
  async sleep(ms: number): Promise<void> {
    if (isDryRun()) return recordAction(`wait ${ms / 1000} s`);
    if (!this.fastForward) await sleep(ms);
  }

  /**
   * A named forward step: waits while paused, stops if aborted, records timing and outcome. Past the point of
   * no return a failure opens the `recover` gate instead of ending the run: `retry` runs `fn` again,
   * `done-by-hand` records the note and goes on (the step then returns `undefined`: past the point of no
   * return, moves use a step's result only in its summary), `way-back` takes the designed way back.
   */
  async step<T>(name: string, fn: () => Promise<T>, summarize?: (result: T) => string, kind?: { readOnly: true }): Promise<T> {
    if (name in this.results) return this.results[name].value as T;
    // A resumed run reaches the step the previous run was waiting in (or waiting to recover).
    const carried = this.fastForward ? this.status.steps.find((st) => st.name === name && st.state !== 'done') : undefined;
    if (this.fastForward && !carried) throw new Error(`resumed run reached step "${name}", which the previous run never started`);
    this.resumed();
    if (!carried) await this.checkpoint();
    const record: StepRecord = carried ?? { name, state: 'running', startedAt: new Date().toISOString(), ...(kind?.readOnly ? { readOnly: true } : {}) };
    if (isDryRun()) recordStep(name);
    if (!carried) this.status.steps.push(record);
    if (record.state === 'running') this.setPhase(name);
    for (;;) {
      try {
        if (record.state === 'failed') throw new CarriedFailure(record.summary ?? 'failed');
        this.inFlight++;
        let result: T;
        try {
          result = await fn();
        } finally {
          this.inFlight--;
        }
        record.state = 'done';
        record.summary = summarize?.(result);
        this.results[name] = { value: result };
        return result;
      } catch (err) {
        if (err instanceof ContinueAsNewRequested) throw err;
        record.state = 'failed';
        record.summary = messageOf(err);
        if (!this.recoverable(err)) throw err;
        record.endedAt ??= new Date().toISOString();
        this.publish();
        const decision = await this.recover(record, err);
        if (decision.decision === 'way-back') throw new WayBackRequested(`way back chosen at the recover gate by ${decision.by} after ${name} failed: ${record.summary}`);
        if (decision.decision === 'done-by-hand') {
          record.state = 'done';
          record.byHand = { by: decision.by, note: decision.note ?? '', at: decision.at };
          record.summary = `done by hand by ${decision.by}: ${decision.note ?? ''} (it had failed: ${record.summary})`;
          this.results[name] = {};
          return undefined as T;
        }
        record.state = 'running';
        record.attempts = (record.attempts ?? 1) + 1;
        delete record.endedAt;
        this.setPhase(name);
        this.publish();
      } finally {
        if (record.state !== 'running') {
          record.endedAt = new Date().toISOString();
          this.publish();
        }
      }
    }
  }

  /** A forward step failed past the point of no return, for its own reasons (not an abort or a cancellation). */
  private recoverable(err: unknown): boolean {
    return this.status.pointOfNoReturn.passedAt !== null && !this.rollingBack && !isCancellation(err) && !(err instanceof RollbackRequested);
  }

  /** The `recover` gate for a failed step; one at a time (steps that run side by side take turns). */
  private async recover(record: StepRecord, err: unknown): Promise<DecisionRecord> {
    log.error('step failed past the point of no return: waiting for a decision', { step: record.name, error: messageOf(err) });
    const carried = this.status.gate?.name === RECOVER_GATE && this.status.gate.evidence.step === record.name;
    if (!carried) await condition(() => this.status.gate === null || this.rollbackReason !== null);
    const way = this.wayBackArmed() ? this.options.wayBack!.step : null;
    return this.gate(
      RECOVER_GATE,
      {
        step: record.name,
        failure: messageOf(err),
        attempts: record.attempts ?? 1,
        failedAt: record.endedAt ?? new Date().toISOString(),
        retry: `run ${record.name} again`,
        wayBack: way ? `run the way back (${way})` : 'none from here',
        doneByHand: `record ${record.name} as done by hand (a note says what was done) and go on`,
      },
      { onTimeout: 'wait' },
    );
  }

  /** Between steps: honour pause and abort (of the forward path, or of the way back). */
  async checkpoint(): Promise<void> {
    if (this.fastForward) return;
    if (this.status.paused) {
      this.setPhase(`paused`);
      const stop = () => (this.status.wayBack ? this.status.wayBack.abort !== undefined : this.rollbackReason !== null);
      await condition(() => !this.status.paused || stop());
    }
    if (this.rollbackReason && this.status.pointOfNoReturn.passedAt === null) throw new RollbackRequested(this.rollbackReason);
  }

  /**
   * A catch-up-like wait inside a step: `check` runs again and again (each run samples for a while) until it
   * says done. Pause holds it between checks, abort stops it. Past `policy.timeoutMs` (and each multiple of it)
   * the policy applies: `rollback` fails the step with CatchUpTimedOut (`late` says why), `wait` notifies
   * (`onLate`) and keeps waiting.
   */
  async waitUntil<S, R>(
    check: (state: S) => Promise<{ done: true; value: R } | { done: false; state: S }>,
    initial: S,
    policy: { timeoutMs: number; onTimeout: 'rollback' | 'wait'; late: (state: S, waitedMs: number) => string; onLate?: (notifications: number) => void },
  ): Promise<R> {
    // Keyed by the step it runs in; what a resumed run needs to go on is kept there after every check.
    const phase = this.status.phase;
    const wait = (this.waits[phase] ??= { startedAt: Date.now(), notifications: 0, state: initial }) as { startedAt: number; notifications: number; state: S };
    for (;;) {
      if (this.status.paused) {
        await this.checkpoint();
        this.setPhase(phase);
      }
      if (this.continueAsNewDue(1)) throw new ContinueAsNewRequested(this.carry());
      const r = await check(wait.state);
      if (r.done) {
        delete this.waits[phase];
        return r.value;
      }
      wait.state = r.state;
      const waited = Date.now() - wait.startedAt;
      if (waited > policy.timeoutMs * (wait.notifications + 1)) {
        const why = policy.late(wait.state, waited);
        if (policy.onTimeout === 'rollback') throw ApplicationFailure.create({ type: ErrorType.CatchUpTimedOut, message: why, nonRetryable: true });
        wait.notifications++;
        policy.onLate?.(wait.notifications);
        log.warn('still waiting past the timeout (policy: wait)', { why, notifications: wait.notifications });
      }
    }
  }

  setFigures(figures: Record<string, number | string>): void {
    if (this.fastForward) return; // the carried figures are the latest
    Object.assign(this.status.figures, figures);
    this.publish();
  }

  /**
   * Wait for a go; a no-go (or a rolling-back timeout) rolls back. `evidence` is either fixed or an
   * EvidenceSource, read again while the gate waits, by the gate's own loop: nothing outlives the gate.
   */
  async gate(name: string, evidence: Evidence | EvidenceSource, policy: GatePolicy): Promise<DecisionRecord> {
    if (isDryRun()) return this.dryRunGate(name, policy);
    const key = `gate:${name}`;
    if (key in this.results) return this.results[key].value as DecisionRecord;
    const source = isEvidenceSource(evidence) ? evidence : null;
    // A resumed run reaches the gate the previous run was waiting at: same gate, same evidence, same deadline.
    const carried = this.fastForward && this.status.gate?.name === name ? this.status.gate : null;
    if (this.fastForward && !carried) throw new Error(`resumed run reached gate "${name}", which the previous run never opened`);
    this.resumed();
    this.goCheck = source?.goRefusal ?? null;
    const gate = carried ?? (await this.openGate(name, source ? await this.readEvidence(source) : (evidence as Evidence), policy, source !== null));
    try {
      await this.awaitDecision(gate, policy, source);
      await this.checkpoint();
      const decision = this.pendingDecision as DecisionRecord | null;
      // Past the point of no return an abort or a rolling-back timeout reaches here without a decision:
      // it asks for the designed way back.
      if (!decision) throw new RollbackRequested(this.rollbackReason ?? `gate "${name}" closed without a decision`);
      if (decision.decision === 'no-go') {
        this.requestRollback(`no-go at gate "${name}" by ${decision.by}: ${decision.reason ?? ''}`.trim());
        throw new RollbackRequested(this.rollbackReason!);
      }
      if (name !== RECOVER_GATE) this.results[key] = { value: decision };
      return decision;
    } finally {
      // A go still waiting for a read the gate never finished (an abort): its update answers.
      if (this.heldGo) this.settleHeldGo(null);
      this.goCheck = null;
      this.status.gate = null;
      this.publish();
    }
  }

  private async openGate(name: string, shown: Evidence, policy: GatePolicy, refreshed: boolean): Promise<GateState> {
    await this.checkpoint();
    const openedAt = new Date();
    const gate: GateState = {
      name,
      openedAt: openedAt.toISOString(),
      deadline: policy.timeoutMs ? new Date(openedAt.getTime() + policy.timeoutMs).toISOString() : undefined,
      evidence: shown,
      notifications: 1,
      ...(refreshed ? { refreshedAt: openedAt.toISOString(), refreshes: 0 } : {}),
      ...(this.signed ? { evidenceDigest: evidenceDigest(shown) } : {}),
    };
    this.checkGo(gate);
    this.status.gate = gate;
    this.pendingDecision = null;
    this.setPhase(`waiting-at-${name}`);
    log.info('waiting at gate', { gate: name, evidence: shown });
    return gate;
  }

  /**
   * The gate's wait: one loop wakes for a decision, the timeout policy and the evidence refresh, whichever
   * comes first. Without a source its commands are exactly those of the gates recorded before evidence refresh
   * moved into the gate (a timer per timeout, nothing else): those histories replay on this code.
   */
  private async awaitDecision(gate: GateState, policy: GatePolicy, source: EvidenceSource | null): Promise<void> {
    const ready = () => this.pendingDecision !== null || this.rollbackReason !== null;
    // Everything the loop needs is in the gate's state, so a resumed run goes on with the same schedule.
    const cap = (ms: number) => Math.min(ms, source?.maxEveryMs ?? source?.everyMs ?? ms);
    let every = cap((source?.everyMs ?? 0) * 2 ** (gate.refreshes ?? 0));
    let deadline = gate.deadline ? Date.parse(gate.deadline) : Infinity;
    let refreshAt = source ? Date.parse(gate.refreshedAt ?? gate.openedAt) + every : Infinity;
    const wake = () => ready() || this.continueAsNewDue(0);
    for (;;) {
      const wakeAt = Math.min(deadline, refreshAt);
      const woke = wakeAt === Infinity ? (await condition(wake), true) : await condition(wake, Math.max(1, wakeAt - Date.now()));
      if (ready()) return;
      if (woke && this.continueAsNewDue(0)) throw new ContinueAsNewRequested(this.carry());
      if (Date.now() >= deadline) {
        if (policy.onTimeout === 'rollback') {
          this.requestRollback(`gate "${gate.name}" timed out after ${Math.round(policy.timeoutMs! / 1000)} s without a decision`);
          return;
        }
        gate.notifications += 1;
        deadline = Date.now() + policy.timeoutMs!;
        gate.deadline = new Date(deadline).toISOString();
        log.warn('gate still waiting for a decision', { gate: gate.name, notifications: gate.notifications });
        this.publish();
      }
      if (source && Date.now() >= refreshAt) {
        this.readingEvidence = true;
        gate.reading = 'the evidence being read again';
        let fresh: Evidence;
        try {
          fresh = await this.readEvidence(source);
        } finally {
          this.readingEvidence = false;
          delete gate.reading;
        }
        // A decision taken while the evidence was being read keeps what it was shown; a held go stands only if
        // the fresh evidence passes the gate's go check.
        if (this.settleHeldGo(fresh) && ready()) return;
        this.showEvidence(gate, fresh);
        gate.refreshedAt = new Date().toISOString();
        gate.refreshes = (gate.refreshes ?? 0) + 1;
        every = cap(every * 2);
        refreshAt = Date.now() + every;
        this.publish();
      }
    }
  }

  /** New evidence at an open gate; in a signed story the versions shown just before stay signable for a while. */
  private showEvidence(gate: GateState, fresh: Evidence): void {
    if (this.signed) {
      const digest = evidenceDigest(fresh);
      const previous = gate.evidenceDigest ?? evidenceDigest(gate.evidence);
      if (digest !== previous) gate.earlier = [{ digest: previous, evidence: gate.evidence }, ...(gate.earlier ?? [])].slice(0, EARLIER_EVIDENCE_KEPT);
      gate.evidenceDigest = digest;
    }
    gate.evidence = fresh;
    this.checkGo(gate);
  }

  /** At a gate with a go check, why a go is not taken on the evidence shown now, in status for the approvers. */
  private checkGo(gate: GateState): void {
    if (!this.goCheck) return;
    const why = this.goCheck(gate.evidence);
    if (why) gate.goRefused = why;
    else delete gate.goRefused;
  }

  /** A dry run records the gate and goes on as if the approvers had said go. */
  private dryRunGate(name: string, policy: GatePolicy): DecisionRecord {
    const { approvers, requireSecondPerson } = this.options.approval;
    const who = `${approvers.join(' or ')}${requireSecondPerson ? ` (not ${this.options.startedBy}, who starts it)` : ''}`;
    const timeout = policy.timeoutMs ? `; after ${Math.round(policy.timeoutMs / 1000)} s without a decision: ${policy.onTimeout === 'rollback' ? 'roll back' : 'remind and keep waiting'}` : '';
    dryRunRecord().gates.push(`${name}: wait for a go from ${who}${timeout}`);
    recordStep(`gate ${name}`);
    return { gate: name, decision: 'go', by: 'dry run', at: new Date().toISOString(), via: 'update', evidence: {} };
  }

  /** A read-only step: in a dry run it runs for real, and `cutover plan` shows its summary as a fact found. */
  check<T>(name: string, fn: () => Promise<T>, summarize?: (result: T) => string): Promise<T> {
    return this.step(name, fn, summarize, { readOnly: true });
  }

  /** A failed look is shown as such: the gate stays open and the approver decides either way. */
  private async readEvidence(source: EvidenceSource): Promise<Evidence> {
    try {
      return { ...(await source.read()) };
    } catch (err) {
      if (isCancellation(err)) throw err;
      log.warn('gate evidence not read', { error: messageOf(err) });
      return { evidenceError: messageOf(err), lastCheckAt: new Date().toISOString() };
    }
  }

  /**
   * Replay only: the gate as recorded before evidence refresh moved into the gate (patch
   * `gate-evidence-lifecycle`), a refresher beside it started before the first read. Runs recorded then replay
   * on it; new runs never take it.
   */
  async gateWithFloatingRefresher(name: string, read: () => Promise<Evidence>, policy: GatePolicy): Promise<DecisionRecord> {
    let waiting = true;
    const refresher = (async () => {
      for (let every = 15_000; waiting; every = Math.min(every * 2, 300_000)) {
        await sleep(every);
        if (!waiting) break;
        const fresh = await read();
        if (waiting && this.status.gate?.name === name) {
          this.showEvidence(this.status.gate, { ...this.status.gate.evidence, ...fresh });
          this.publish();
        }
      }
    })().catch(() => undefined);
    try {
      return await this.gate(name, await read(), policy);
    } finally {
      waiting = false;
      void refresher;
    }
  }

  /** From here on, failures are finished forward or reversed by design, not undone. */
  passPointOfNoReturn(): void {
    if (this.status.pointOfNoReturn.passedAt !== null) return; // a resumed run passing it again
    this.status.pointOfNoReturn.passedAt = new Date().toISOString();
    this.saga.clear();
    log.info('passed the point of no return', { step: this.status.pointOfNoReturn.step });
    this.publish();
  }

  private setPhase(phase: string): void {
    this.status.phase = phase;
    upsertSearchAttributes([{ key: phaseKey, value: phase }]);
  }

  private publish(): void {
    setCurrentDetails(renderDetails(this.status, workflowInfo().workflowId));
  }
}

/** The answer to a go a gate did not take (it is recorded among the refused decisions too). */
function goNotTaken(why: string): ApplicationFailure {
  return ApplicationFailure.create({ type: ErrorType.GoNotTaken, message: why, nonRetryable: true });
}

function isEvidenceSource(e: Evidence | EvidenceSource): e is EvidenceSource {
  return typeof (e as EvidenceSource).read === 'function';
}

/** Markdown shown in the Web UI's "current details". */
export function renderDetails(s: MigrationStatus, id: string): string {
  const lines = [`### ${s.kind} \`${s.name}\`: ${s.phase}${s.paused ? ' (paused)' : ''}`, ''];
  if (s.gate) {
    lines.push(`**Waiting at gate \`${s.gate.name}\`** since ${s.gate.openedAt}. Approve with`);
    lines.push(`\`cutover approve ${id} --gate ${s.gate.name} --as NAME${s.signing ? ' --key KEY' : ''}\``, '');
    lines.push('| evidence | value |', '|---|---|');
    for (const [k, v] of Object.entries(s.gate.evidence)) lines.push(`| ${k} | ${v} |`);
    lines.push('');
    if (s.gate.goRefused) lines.push(`**A go is not taken now** (a no-go is): ${s.gate.goRefused}`, '');
    if (s.gate.reading) lines.push(`Reading the evidence again now: ${s.gate.reading}`, '');
    if (s.gate.heldGo) lines.push(`**A go by ${s.gate.heldGo.by}** (${s.gate.heldGo.at}) **is held** until that read ends: taken or refused on what it shows`, '');
  }
  const refused = s.refusedDecisions.at(-1);
  if (refused) lines.push(`Refused: ${s.refusedDecisions.length + (s.refusedDropped ?? 0)} (last: ${refused.decision ?? '?'}${refused.gate ? ` at gate \`${refused.gate}\`` : ''} by ${refused.by ?? '?'} at ${refused.at}: ${refused.why})`, '');
  const figures = Object.entries(s.figures);
  if (figures.length) {
    lines.push('| figure | value |', '|---|---|');
    for (const [k, v] of figures) lines.push(`| ${k} | ${v} |`);
    lines.push('');
  }
  if (s.steps.length) {
    lines.push('| step | state | summary |', '|---|---|---|');
    for (const st of s.steps) lines.push(`| ${st.name} | ${st.state} | ${st.summary ?? ''} |`);
  }
  if (s.compensations.length) {
    lines.push('', '| compensation | state | detail |', '|---|---|---|');
    for (const c of s.compensations) lines.push(`| ${c.step} | ${c.state} | ${c.detail ?? c.error ?? ''} |`);
  }
  if (s.failure) lines.push('', `Failure: ${s.failure}`);
  return lines.join('\n');
}
