/**
 * The crash checker of the units-of-work tests: it reads what a remounted controller holds
 * (every message it lets a browse see, and the units in doubt) and compares it with a
 * UnitHistory. It looks for the outcome of every unit still in flight that explains what is
 * there; with those outcomes,
 *   - a message is visible, once, on its queue, with its bytes, exactly when it is persistent,
 *     its putting unit committed and no unit that got it committed or is in doubt;
 *   - the units in doubt are exactly those prepared and not resolved, with their puts and gets;
 *   - a unit in flight took effect whole or not at all (else: an atomicity violation).
 * Then `settle` turns the history into a shorter one that starts from what was checked.
 */
import { isSanmqError, type Controller } from '../../src/index.js';
import { bodyOf, identityOf, type Random } from './unit-workload.js';
import { UnitHistory, type MessageFact, type Outcome, type UnitFact } from './unit-history.js';

export interface Sighting {
  queue: string;
  /** The length the body's header claims, and whether the body is exactly that message's. */
  length: number;
  bodyOk: boolean;
}

export interface Observation {
  messages: Map<number, Sighting[]>;
  /** Messages whose id is not one of ours. */
  strangers: number;
  inDoubt: Map<string, { puts: number; gets: number }>;
}

export interface Verdict {
  /** Expected on its queue, not there. */
  lost: number[];
  /** There, though uncommitted, rolled back, consumed or held by a unit in doubt. */
  unexpected: number[];
  duplicated: number[];
  /** Ids never put (or not ours). */
  phantom: number[];
  wrongQueue: number[];
  wrongBytes: number[];
  /** Units in doubt that should not be, or should be and are not, or hold other messages. */
  inDoubt: string[];
  /** Units in flight whose effects are partly there: no outcome explains them. */
  atomicity: string[];
  /** The log contradicts itself or the controller (a message gotten twice, a dirty read). */
  impossible: string[];
  /** The outcome chosen for every unit that was in flight. */
  outcomes: Map<string, Outcome>;
}

const BROWSE_MAX = 1_000_000;
const COMBINATIONS_MAX = 200_000;

/** Everything a browse of every queue sees, and the units in doubt. */
export async function observe(controller: Controller): Promise<Observation> {
  const observation: Observation = { messages: new Map(), strangers: 0, inDoubt: new Map() };
  const session = controller.session();
  try {
    for (const queue of controller.queueNames()) {
      const cursor = session.browse(queue);
      for (let i = 0; i < BROWSE_MAX; i++) {
        let message;
        try {
          message = i === 0 ? await cursor.first() : await cursor.next();
        } catch (error) {
          if (isSanmqError(error, 'E_NO_MSG')) break;
          throw error;
        }
        const id = identityOf(message.messageId);
        if (id === undefined) {
          observation.strangers++;
          continue;
        }
        const length = message.body.length >= 12 ? message.body.readUInt32LE(8) : -1;
        const bodyOk = length >= 0 && message.body.equals(bodyOf(id, length));
        const sightings = observation.messages.get(id) ?? [];
        sightings.push({ queue, length, bodyOk });
        observation.messages.set(id, sightings);
      }
    }
  } finally {
    await session.close();
  }
  for (const unit of controller.inDoubt()) {
    observation.inDoubt.set(unit.xid, { puts: unit.puts, gets: unit.gets });
  }
  return observation;
}

/** Where a unit leaves each message when it has `outcome`. */
class Expectation {
  readonly #history: UnitHistory;
  readonly #outcomes: Map<string, Outcome>;

  constructor(history: UnitHistory, outcomes: Map<string, Outcome>) {
    this.#history = history;
    this.#outcomes = outcomes;
  }

  outcome(unit: UnitFact): Outcome | undefined {
    return this.#outcomes.get(unit.name) ?? this.#history.possible(unit)[0];
  }

  #of(name: string): Outcome | undefined {
    const unit = this.#history.units.get(name);
    return unit === undefined ? undefined : this.outcome(unit);
  }

  /** Whether a remounted controller should let a browse see the message. */
  visible(message: MessageFact): boolean {
    if (!message.persistent || this.#of(message.putBy) !== 'committed') return false;
    return message.getters.every((name) => this.#of(name) === 'aborted');
  }

  /** Units that consumed the message (more than one is a double delivery). */
  consumers(message: MessageFact): string[] {
    return message.getters.filter((name) => this.#of(name) === 'committed');
  }

  /** What the controller should list for a unit in doubt (its persistent effects). */
  inDoubt(unit: UnitFact): { puts: number; gets: number } {
    const persistent = (id: number) => this.#history.messages.get(id)?.persistent === true;
    return { puts: unit.puts.filter(persistent).length, gets: unit.gets.filter(persistent).length };
  }
}

/**
 * How far the observation is from the expectation, over some messages and units (a message
 * consumed twice counts too: an outcome that needs it explains nothing).
 */
function mismatches(history: UnitHistory, observation: Observation, expectation: Expectation,
  ids: Iterable<number>, units: Iterable<UnitFact>): number {
  let count = 0;
  for (const id of ids) {
    const message = history.messages.get(id) as MessageFact;
    if (expectation.visible(message) !== observation.messages.has(id)) count++;
    if (expectation.consumers(message).length > 1) count++;
  }
  for (const unit of units) {
    if (unit.xid === '') continue;
    if ((expectation.outcome(unit) === 'in doubt') !== observation.inDoubt.has(unit.xid)) count++;
  }
  return count;
}

/** Assignments of outcomes to the uncertain units: every one, up to COMBINATIONS_MAX. */
function* assignments(history: UnitHistory, uncertain: UnitFact[]):
Generator<Map<string, Outcome>> {
  const choices = uncertain.map((unit) => history.possible(unit));
  const total = choices.reduce((product, c) => product * c.length, 1);
  for (let n = 0; n < Math.min(total, COMBINATIONS_MAX); n++) {
    const outcomes = new Map<string, Outcome>();
    let rest = n;
    uncertain.forEach((unit, i) => {
      const options = choices[i] as readonly Outcome[];
      outcomes.set(unit.name, options[rest % options.length] as Outcome);
      rest = Math.floor(rest / options.length);
    });
    yield outcomes;
  }
}

/** The outcomes of the units in flight that best explain the observation. */
function explain(history: UnitHistory, observation: Observation, impossible: string[]):
Map<string, Outcome> {
  const uncertain = history.uncertain();
  const total = uncertain.reduce((product, unit) => product * history.possible(unit).length, 1);
  if (total > COMBINATIONS_MAX) {
    impossible.push(`${uncertain.length} units in flight: only ${COMBINATIONS_MAX} of their ` +
      `${total} combinations of outcomes were tried`);
  }
  const touched = new Set<number>(uncertain.flatMap((unit) => [...unit.puts, ...unit.gets]));
  let best = new Map<string, Outcome>();
  let fewest = Infinity;
  for (const outcomes of assignments(history, uncertain)) {
    const count = mismatches(history, observation, new Expectation(history, outcomes), touched,
      uncertain);
    if (count < fewest) {
      fewest = count;
      best = outcomes;
    }
    if (count === 0) break;
  }
  return best;
}

/** Compares a remounted controller's observation with the history. */
export function check(history: UnitHistory, observation: Observation): Verdict {
  const impossible = history.malformed.map((line) => `malformed log line: ${line}`);
  const outcomes = explain(history, observation, impossible);
  const expectation = new Expectation(history, outcomes);
  const verdict: Verdict = { lost: [], unexpected: [], duplicated: [], phantom: [],
    wrongQueue: [], wrongBytes: [], inDoubt: [], atomicity: [], impossible, outcomes };
  compareMessages(history, observation, expectation, verdict);
  compareInDoubt(history, observation, expectation, verdict);
  for (const unit of history.uncertain()) {
    const own = mismatches(history, observation, expectation, [...unit.puts, ...unit.gets], [unit]);
    if (own > 0) verdict.atomicity.push(describe(history, observation, unit));
  }
  for (const unit of history.units.values()) {
    if (history.possible(unit).length === 0) {
      verdict.impossible.push(`unit ${unit.name} (${unit.stage}) had a put that was gotten`);
    }
  }
  return verdict;
}

function compareMessages(history: UnitHistory, observation: Observation,
  expectation: Expectation, verdict: Verdict): void {
  for (const message of history.messages.values()) {
    const sightings = observation.messages.get(message.id) ?? [];
    const expected = expectation.visible(message);
    if (expected && sightings.length === 0) verdict.lost.push(message.id);
    if (!expected && sightings.length > 0) verdict.unexpected.push(message.id);
    if (sightings.length > 1) verdict.duplicated.push(message.id);
    if (sightings.some((s) => s.queue !== message.queue)) verdict.wrongQueue.push(message.id);
    if (!sightings.every((s) => s.bodyOk && s.length === message.length)) {
      verdict.wrongBytes.push(message.id);
    }
    const consumers = expectation.consumers(message);
    if (consumers.length > 1) {
      verdict.impossible.push(`message ${message.id} was consumed by ${consumers.join(' and ')}`);
    }
  }
  for (const id of observation.messages.keys()) {
    if (!history.messages.has(id)) {
      verdict[history.retired.has(id) ? 'unexpected' : 'phantom'].push(id);
    }
  }
  for (let i = 0; i < observation.strangers; i++) verdict.phantom.push(-1);
}

function compareInDoubt(history: UnitHistory, observation: Observation,
  expectation: Expectation, verdict: Verdict): void {
  const expected = new Set<string>();
  for (const unit of history.units.values()) {
    if (unit.xid === '' || expectation.outcome(unit) !== 'in doubt') continue;
    expected.add(unit.xid);
    const listed = observation.inDoubt.get(unit.xid);
    const want = expectation.inDoubt(unit);
    if (listed === undefined) verdict.inDoubt.push(`${unit.xid} (${unit.stage}) is not in doubt`);
    else if (listed.puts !== want.puts || listed.gets !== want.gets) {
      verdict.inDoubt.push(`${unit.xid} holds ${listed.puts} puts and ${listed.gets} gets, ` +
        `not ${want.puts} and ${want.gets}`);
    }
  }
  for (const xid of observation.inDoubt.keys()) {
    if (!expected.has(xid)) {
      verdict.inDoubt.push(`${xid} (${history.units.get(xid)?.stage ?? 'unknown'}) is in doubt`);
    }
  }
}

/** The effects of a unit in flight that are there and those that are not. */
function describe(history: UnitHistory, observation: Observation, unit: UnitFact): string {
  const there = (id: number) => observation.messages.has(id);
  const persistent = (id: number) => history.messages.get(id)?.persistent === true;
  const puts = unit.puts.filter(persistent);
  const gets = unit.gets.filter(persistent);
  return `unit ${unit.name} (${unit.stage}): puts there [${puts.filter(there)}], ` +
    `puts absent [${puts.filter((id) => !there(id))}], gets still queued ` +
    `[${gets.filter(there)}], gets gone [${gets.filter((id) => !there(id))}]` +
    (unit.xid === '' ? '' : `, in doubt: ${observation.inDoubt.has(unit.xid)}`);
}

/** Resolves every unit in doubt, commit or rollback as `random` picks, and tells the history. */
export async function resolveInDoubt(controller: Controller, history: UnitHistory,
  random: Random): Promise<void> {
  for (const { xid } of controller.inDoubt()) {
    const outcome = random.below(2) === 0 ? 'commit' : 'rollback';
    history.apply(`resolve-begin ${xid} ${outcome}`);
    await controller.resolve(xid, outcome);
    history.apply(`resolve-ok ${xid}`);
  }
}

export function clean(verdict: Verdict): boolean {
  return verdict.lost.length + verdict.unexpected.length + verdict.duplicated.length +
    verdict.phantom.length + verdict.wrongQueue.length + verdict.wrongBytes.length +
    verdict.inDoubt.length + verdict.atomicity.length + verdict.impossible.length === 0;
}

/** The verdict's findings, without the outcomes (for a failure report). */
export function findings(verdict: Verdict): Omit<Verdict, 'outcomes'> {
  const { outcomes: _outcomes, ...rest } = verdict;
  const short = <T>(list: T[]) => list.slice(0, 20);
  return {
    lost: short(rest.lost), unexpected: short(rest.unexpected),
    duplicated: short(rest.duplicated), phantom: short(rest.phantom),
    wrongQueue: short(rest.wrongQueue), wrongBytes: short(rest.wrongBytes),
    inDoubt: short(rest.inDoubt), atomicity: short(rest.atomicity),
    impossible: short(rest.impossible),
  };
}

/**
 * A history that starts from the checked state: the messages there now (settled, committed)
 * and the units in doubt with the messages they hold; every other id is retired.
 */
export function settle(history: UnitHistory, verdict: Verdict): UnitHistory {
  const expectation = new Expectation(history, verdict.outcomes);
  const next = new UnitHistory();
  for (const id of history.retired) next.retired.add(id);
  const held = new Set<number>();
  for (const unit of history.units.values()) {
    if (unit.xid === '' || expectation.outcome(unit) !== 'in doubt') continue;
    const persistent = (id: number) => history.messages.get(id)?.persistent === true;
    const puts = unit.puts.filter(persistent);
    const gets = unit.gets.filter(persistent);
    next.carry({ ...unit, stage: 'prepared', settled: undefined, puts, gets, seenCommitted: false },
      puts.map((id) => history.messages.get(id) as MessageFact));
    for (const id of [...puts, ...gets]) held.add(id);
  }
  for (const message of history.messages.values()) {
    if (expectation.visible(message) || (held.has(message.id) && !next.messages.has(message.id))) {
      next.addSettled(message.id, message.queue, message.length);
      const gotBy = [...next.units.values()].find((unit) => unit.gets.includes(message.id));
      if (gotBy !== undefined) next.messages.get(message.id)?.getters.push(gotBy.name);
    } else if (!next.messages.has(message.id)) {
      next.retired.add(message.id);
    }
  }
  return next;
}
