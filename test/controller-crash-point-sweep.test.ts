/**
 * Crash-point sweeps of the controller's units of work: a fixed, seeded workload (three
 * sessions in lockstep over three queues: commits, backouts, prepares resolved or left in
 * doubt, large units whose puts spill, puts and gets outside syncpoint) runs over the
 * fault-injecting LUN, which crashes at its k-th write or sync, for every k the workload
 * reaches; the writes not yet synced are dropped, torn at 512-byte sectors, or applied, partly
 * applied or trashed. Each crashed LUN is remounted on the real file and checked against what
 * was acknowledged before the crash (unit-checker.ts): nothing acknowledged lost, nothing
 * uncommitted visible, every unit in flight whole or absent, the prepared units in doubt.
 * Then the units in doubt are resolved, and the result checked, before and after a remount.
 * Negative controls show that the checker reports losses, partial units and wrong units in
 * doubt when they are there.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { Controller, isSanmqError, type CrashMode, type OpenOptions } from '../src/index.js';
import { testDir } from './helpers/lun.js';
import {
  check, clean, findings, observe, resolveInDoubt, settle, type Verdict,
} from './helpers/unit-checker.js';
import {
  UnitHistory, type MessageFact, type Outcome, type UnitFact,
} from './helpers/unit-history.js';
import {
  bodyOf, messageIdOf, Random, runUnitWorkload, UNIT_QUEUES, type Known, type WorkloadResult,
} from './helpers/unit-workload.js';

// Fourteen segments: the controller compacts while the workload runs (when half are in use).
const GEOMETRY = { sizeBytes: 4 * 1024 * 1024, segmentBytes: 256 * 1024, casSlots: 4 };
// Deterministic flush composition: no background prefill, no gathering delay.
const QUIET: OpenOptions = { prefillSegmentsAhead: 0, gatherUs: 0, spinUs: 0 };
const COMPACT_BELOW_FREE_RATIO = 0.5;
const SEED = 9;
const STEPS = 24;
const SETTLED_MESSAGES = 12;
/** Three 48 KiB puts outgrow half of a 256 KiB segment's append: the fourth put spills. */
const LARGE = { count: 4, bytes: 48 * 1024 };
/** After a crash every call fails: with the crash, or with the controller's fail-stop. */
const CRASH_CODES: readonly string[] = ['E_CRASHED', 'E_FAILED'];

/** A LUN with the queues and a few messages already on them, and those messages. */
async function template(dir: string): Promise<{ path: string; queued: Known[] }> {
  const path = join(dir, 'template.lun');
  const controller = await Controller.mount(path, { create: GEOMETRY, lun: QUIET });
  for (const name of UNIT_QUEUES) await controller.defineQueue(name, { maxDepth: 1_000_000 });
  const session = controller.session();
  const queued: Known[] = [];
  for (let id = 1; id <= SETTLED_MESSAGES; id++) {
    const known = { id, queue: UNIT_QUEUES[id % UNIT_QUEUES.length] as string, length: 100,
      persistent: true };
    await session.put(known.queue, { body: bodyOf(id, known.length), messageId: messageIdOf(id),
      persistent: true });
    queued.push(known);
  }
  await session.close();
  await controller.unmount();
  return { path, queued };
}

/** The history of a run from the template: its messages, then the run's lines. */
function historyOf(queued: Known[], lines: readonly string[]): UnitHistory {
  const history = new UnitHistory();
  for (const known of queued) history.addSettled(known.id, known.queue, known.length);
  for (const line of lines) history.apply(line);
  return history;
}

/** Runs the fixed workload on a mounted controller; every line goes to the history. */
function workload(controller: Controller, queued: Known[], lines: string[]):
Promise<WorkloadResult> {
  return runUnitWorkload(controller, queued, {
    seed: SEED, tag: 'w', firstId: 1000, sessions: 3, stepsMax: STEPS, lockstep: true,
    large: LARGE, backlogMax: 100, log: (line) => lines.push(line),
  });
}

interface Run {
  lines: string[];
  result: WorkloadResult | undefined;
  mutations: number;
  compactions: number;
}

/** Mounts over the faulty LUN, runs the workload into the crash, and always crashes at the end. */
async function crashedRun(path: string, queued: Known[], faults: NonNullable<OpenOptions['faults']>,
  mode: CrashMode): Promise<Run> {
  const run: Run = { lines: [], result: undefined, mutations: 0, compactions: 0 };
  let controller: Controller;
  try {
    controller = await Controller.mount(path, { lun: { ...QUIET, faults },
      compactBelowFreeRatio: COMPACT_BELOW_FREE_RATIO });
  } catch (error) {
    // The mount writes too: a crash there leaves nothing acknowledged.
    if (isSanmqError(error, 'E_CRASHED')) return run;
    throw error;
  }
  run.result = await workload(controller, queued, run.lines);
  const injector = controller.lun.faults;
  if (injector === undefined) throw new Error('the LUN was opened without faults');
  run.mutations = injector.counters().mutations;
  run.compactions = controller.stats().store.compactions;
  if (!injector.counters().crashed) injector.crash(mode);
  await controller.unmount().catch((error: unknown) => {
    if (!isSanmqError(error)) throw error;
  });
  return run;
}

interface Checked {
  /** The first verdict that is not clean, and where it was found. */
  failure: { stage: string; verdict: Verdict } | undefined;
  /** What became of the units in flight at the crash. */
  outcomes: Outcome[];
}

/**
 * Checks a crashed LUN; then resolves the units in doubt (seeded), checks, remounts and checks
 * again.
 */
async function checkCrashed(path: string, history: UnitHistory, seed: number): Promise<Checked> {
  let controller = await Controller.mount(path, { lun: QUIET });
  try {
    let verdict = check(history, await observe(controller));
    const outcomes = [...verdict.outcomes.values()];
    if (!clean(verdict)) return { failure: { stage: 'after the crash', verdict }, outcomes };
    let settled = settle(history, verdict);
    await resolveInDoubt(controller, settled, new Random(seed));
    verdict = check(settled, await observe(controller));
    if (!clean(verdict)) {
      return { failure: { stage: 'after resolving the units in doubt', verdict }, outcomes };
    }
    settled = settle(settled, verdict);
    await controller.unmount();
    controller = await Controller.mount(path, { lun: QUIET });
    verdict = check(settled, await observe(controller));
    if (!clean(verdict)) {
      return { failure: { stage: 'after a remount of the resolved LUN', verdict }, outcomes };
    }
    return { failure: undefined, outcomes };
  } finally {
    await controller.unmount();
  }
}

interface Sweep {
  queued: Known[];
  runs: number;
  baseline: Run;
  failures: Array<{ k: number; mode: CrashMode; stage: string; findings: unknown }>;
  lostRuns: number;
  /** How the units in flight at the crashes ended. */
  inFlight: Record<Outcome, number>;
}

/** Crashes at every `stride`-th mutation k of the workload, with the mode `modeOf(k)` picks. */
async function sweep(dir: string, modeOf: (k: number) => CrashMode,
  options: { lyingSync?: boolean; stride?: number } = {}): Promise<Sweep> {
  const { lyingSync = false, stride = 1 } = options;
  const { path: templatePath, queued } = await template(dir);
  const path = join(dir, 'crashed.lun');
  await copyFile(templatePath, path);
  const baseline = await crashedRun(path, queued, { seed: 1 }, 'apply');
  const result: Sweep = { queued, runs: 0, baseline, failures: [], lostRuns: 0,
    inFlight: { 'committed': 0, 'aborted': 0, 'in doubt': 0 } };
  for (let k = 1; k <= baseline.mutations + 1; k += stride) {
    const mode = modeOf(k);
    await copyFile(templatePath, path);
    const run = await crashedRun(path, queued,
      { seed: k, crashAtMutation: k, crashMode: mode, sectorBytes: 512, lyingSync }, mode);
    const history = historyOf(queued, run.lines);
    result.runs++;
    const strange = run.result?.failures.filter((f) => !CRASH_CODES.includes(f.code)) ?? [];
    if (strange.length > 0) {
      result.failures.push({ k, mode, stage: 'during the workload', findings: strange });
    }
    const { failure, outcomes } = await checkCrashed(path, history, k);
    for (const outcome of outcomes) result.inFlight[outcome]++;
    if (failure === undefined) continue;
    if (failure.verdict.lost.length > 0) result.lostRuns++;
    result.failures.push({ k, mode, stage: failure.stage, findings: findings(failure.verdict) });
  }
  return result;
}

/** The workload reaches what the sweep is for: spilled commits, backouts, units in doubt. */
function coverage(t: Test, baseline: Run, queued: Known[]): void {
  const history = historyOf(queued, baseline.lines);
  const large = (unit: UnitFact) => unit.puts
    .filter((id) => history.messages.get(id)?.length === LARGE.bytes).length === LARGE.count;
  const stages = [...history.units.values()].map((unit) => unit.stage);
  t.same(baseline.result?.failures, [], 'the workload runs without a failure when nothing crashes');
  t.ok(baseline.mutations > 100 && baseline.mutations < 400,
    `the workload makes ${baseline.mutations} writes and syncs`);
  t.ok(baseline.compactions > 0, `the controller compacts ${baseline.compactions} times`);
  t.ok([...history.units.values()].some((unit) => unit.stage === 'committed' && large(unit)),
    'a unit of large puts commits');
  t.ok(stages.includes('backed out') && stages.includes('prepared') &&
    stages.includes('resolved commit') && stages.includes('got'),
  'units back out, prepared ones are resolved or stay in doubt, gets outside syncpoint take');
}

const MIXED: readonly CrashMode[] = ['apply', 'partial', 'trash'];

for (const [name, modeOf] of [
  ['dropped', () => 'drop'],
  ['torn at 512-byte sectors', () => 'tear'],
  ['applied, partly applied or trashed', (k: number) => MIXED[k % MIXED.length] as CrashMode],
] as Array<[string, (k: number) => CrashMode]>) {
  t.test(`a crash at every write and sync of the unit workload, unsynced writes ${name}, ` +
    'keeps every acknowledged unit whole and shows nothing uncommitted', async (t) => {
    const result = await sweep(testDir(t), modeOf);
    coverage(t, result.baseline, result.queued);
    t.ok(result.runs > 100, `swept ${result.runs} crash points`);
    const { inFlight } = result;
    t.ok(inFlight.committed + inFlight.aborted + inFlight['in doubt'] > result.runs / 2,
      `units in flight at the crashes: ${inFlight.committed} committed, ${inFlight.aborted} ` +
      `aborted, ${inFlight['in doubt']} in doubt`);
    t.same(result.failures, [], 'every crash point checks clean');
  });
}

t.test('the checker reports losses when fdatasync lies (negative control)', async (t) => {
  const result = await sweep(testDir(t), () => 'drop', { lyingSync: true, stride: 5 });
  t.ok(result.lostRuns > result.runs / 2,
    `acknowledged effects were lost in ${result.lostRuns} of ${result.runs} runs`);
});

/**
 * A run without a crash, unmounted cleanly, and a unit whose commit was acknowledged, that put
 * a persistent message nobody got and has one more persistent effect (a put or a get): the
 * doctored-log controls start from them.
 */
async function completedRun(dir: string) {
  const { path: templatePath, queued } = await template(dir);
  const path = join(dir, 'completed.lun');
  await copyFile(templatePath, path);
  const controller = await Controller.mount(path, { lun: QUIET,
    compactBelowFreeRatio: COMPACT_BELOW_FREE_RATIO });
  const lines: string[] = [];
  await workload(controller, queued, lines);
  await controller.unmount();
  const history = historyOf(queued, lines);
  // No put of the unit was gotten: nothing in the log but its commit-ok proves that it committed.
  const untouched = (unit: UnitFact) => unit.puts.every((id) =>
    history.messages.get(id)?.getters.length === 0);
  const persistent = (ids: number[]) => ids
    .map((id) => history.messages.get(id) as MessageFact).filter((message) => message.persistent);
  const unit = [...history.units.values()].find((u) => u.stage === 'committed' && untouched(u) &&
    persistent(u.puts).length >= 1 && persistent([...u.puts, ...u.gets]).length >= 2);
  const victim = unit === undefined ? undefined : persistent(unit.puts)[0];
  return { path, queued, lines, unit, victim };
}

/** Gets a message outside the log (an effect the checker is not told of). */
async function removeOutsideTheLog(path: string, message: MessageFact): Promise<void> {
  const controller = await Controller.mount(path, { lun: QUIET });
  const session = controller.session();
  await session.get(message.queue, { messageId: messageIdOf(message.id) });
  await session.close();
  await controller.unmount();
}

async function verdictOf(path: string, lines: string[], queued: Known[]): Promise<Verdict> {
  const history = historyOf(queued, lines);
  const controller = await Controller.mount(path, { lun: QUIET });
  try {
    return check(history, await observe(controller));
  } finally {
    await controller.unmount();
  }
}

const escape = (text: string) => text.replace(/[.()]/g, '\\$&');

t.test('the checker reports an acknowledged commit\'s put removed outside the log ' +
  '(negative control)', async (t) => {
  const { path, queued, lines, victim } = await completedRun(testDir(t));
  t.ok(clean(await verdictOf(path, lines, queued)), 'the run itself checks clean');
  t.ok(victim !== undefined, 'a committed unit has a put still queued and another effect');
  if (victim === undefined) return;
  await removeOutsideTheLog(path, victim);
  const verdict = await verdictOf(path, lines, queued);
  t.same(verdict.lost, [victim.id], 'the checker names the lost message');
  t.notOk(clean(verdict), 'the verdict is not clean');
});

t.test('the checker reports a commit in flight that took effect in part (negative control)',
  async (t) => {
    const { path, queued, lines, unit, victim } = await completedRun(testDir(t));
    t.ok(unit !== undefined && victim !== undefined,
      'a committed unit has a put still queued and another effect');
    if (unit === undefined || victim === undefined) return;
    // The log now leaves the unit's commit in flight, and one of its puts is gone: neither
    // outcome explains both that and its other effect.
    const doctored = lines.filter((line) => line !== `commit-ok ${unit.name}`);
    await removeOutsideTheLog(path, victim);
    const verdict = await verdictOf(path, doctored, queued);
    t.equal(verdict.atomicity.length, 1, 'one unit is partial');
    t.match(verdict.atomicity[0], new RegExp(`^unit ${escape(unit.name)} \\(committing\\)`),
      'the checker names the unit');
    t.notOk(clean(verdict), 'the verdict is not clean');
  });

t.test('the checker reports a unit in doubt that the log resolved (negative control)',
  async (t) => {
    const { path, queued, lines } = await completedRun(testDir(t));
    const xid = lines.filter((line) => line.startsWith('prepare-ok '))
      .map((line) => line.split(' ')[1] as string)
      .find((name) => !lines.includes(`resolve-ok ${name}`));
    t.ok(xid !== undefined, 'the run left a unit in doubt');
    if (xid === undefined) return;
    const verdict = await verdictOf(path, [...lines, `resolve-begin ${xid} rollback`,
      `resolve-ok ${xid}`], queued);
    t.match(verdict.inDoubt, [new RegExp(`^${escape(xid)} \\(resolved rollback\\) is in doubt`)],
      'the checker names the unit');
    t.notOk(clean(verdict), 'the verdict is not clean');
  });
