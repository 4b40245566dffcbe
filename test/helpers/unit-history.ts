/**
 * What a unit-of-work workload's log says happened, as the crash checker needs it: every
 * message ever put (its queue, length, persistence and the unit that put it) and every unit
 * with the outcomes still possible for it after a crash. A unit is any group of effects that
 * must happen together or not at all: a unit of work, or one put or get outside syncpoint.
 *
 *   log of the unit                                  outcomes still possible
 *   no end begun (active when the process died)      aborted
 *   commit-begin / commit-ok                          committed or aborted / committed
 *   backout-begin, backout-ok                         aborted
 *   prepare-begin / prepare-ok                        in doubt or aborted / in doubt
 *   resolve-begin commit / resolve-ok                 in doubt or committed / committed
 *   resolve-begin rollback / resolve-ok               in doubt or aborted / aborted
 *   put-begin / put-ok (outside syncpoint)            committed or aborted / committed
 *   get-begin / get-ok / get-none                     committed or aborted / committed / aborted
 *
 * Two facts narrow this further: a message someone got was committed (its putting unit
 * committed), and a get outside syncpoint of a message someone else got later did not take it.
 * A line that fails ("fail ...") leaves its operation in flight: its outcome is unknown.
 */

export type Outcome = 'committed' | 'aborted' | 'in doubt';

export type Stage =
  | 'settled' | 'active' | 'committing' | 'committed' | 'backing out' | 'backed out'
  | 'preparing' | 'prepared' | 'resolving commit' | 'resolved commit' | 'resolving rollback'
  | 'resolved rollback' | 'putting' | 'put' | 'getting' | 'got' | 'not got';

const POSSIBLE: Record<Stage, readonly Outcome[]> = {
  'settled': [],
  'active': ['aborted'],
  'committing': ['committed', 'aborted'],
  'committed': ['committed'],
  'backing out': ['aborted'],
  'backed out': ['aborted'],
  'preparing': ['in doubt', 'aborted'],
  'prepared': ['in doubt'],
  'resolving commit': ['in doubt', 'committed'],
  'resolved commit': ['committed'],
  'resolving rollback': ['in doubt', 'aborted'],
  'resolved rollback': ['aborted'],
  'putting': ['committed', 'aborted'],
  'put': ['committed'],
  'getting': ['committed', 'aborted'],
  'got': ['committed'],
  'not got': ['aborted'],
};

export interface UnitFact {
  name: string;
  /** The xid of a unit of work (the unit's name); '' for a put or get outside syncpoint. */
  xid: string;
  stage: Stage;
  /** The outcome a settled unit had. */
  settled: Outcome | undefined;
  puts: number[];
  gets: number[];
  /** One of its puts was gotten: it committed. */
  seenCommitted: boolean;
}

export interface MessageFact {
  id: number;
  queue: string;
  length: number;
  persistent: boolean;
  putBy: string;
  /** Units that got it, in log order. */
  getters: string[];
}

/** The messages and units a log names, built line by line (see the table above). */
export class UnitHistory {
  readonly units = new Map<string, UnitFact>();
  readonly messages = new Map<number, MessageFact>();
  /** Ids of messages that are gone for good (consumed, rolled back): never to come back. */
  readonly retired = new Set<number>();
  /** Lines that contradict the workload's own rules (a bug of the workload or the log). */
  readonly malformed: string[] = [];

  /** Outcomes the log leaves possible for a unit (empty: the log contradicts itself). */
  possible(unit: UnitFact): readonly Outcome[] {
    if (unit.settled !== undefined) return [unit.settled];
    const outcomes = POSSIBLE[unit.stage];
    return unit.seenCommitted ? outcomes.filter((o) => o === 'committed') : outcomes;
  }

  /** A message that was already on the queues before this history starts. */
  addSettled(id: number, queue: string, length: number): void {
    const name = `settled:${id}`;
    this.units.set(name, { name, xid: '', stage: 'settled', settled: 'committed', puts: [id],
      gets: [], seenCommitted: false });
    this.messages.set(id, { id, queue, length, persistent: true, putBy: name, getters: [] });
  }

  /** Adds a unit carried over from an earlier history (an in-doubt unit). */
  carry(unit: UnitFact, messages: MessageFact[]): void {
    this.units.set(unit.name, { ...unit, puts: [...unit.puts], gets: [...unit.gets] });
    for (const message of messages) this.messages.set(message.id, { ...message, getters: [] });
  }

  /** Reads a whole log; a last line without its newline was cut by the kill and is skipped. */
  applyLog(text: string): void {
    const lines = text.split('\n');
    lines.pop();
    for (const line of lines) this.apply(line);
  }

  apply(line: string): void {
    const [kind = '', first = '', ...rest] = line.split(' ');
    switch (kind) {
      case 'uput': return this.#putInUnit(first, rest, line);
      case 'uget-ok': return this.#getInUnit(first, Number(rest[0]), line);
      case 'commit-begin': return this.#commitBegin(first, rest, line);
      case 'commit-ok': return this.#advance(first, ['committing'], 'committed', line);
      case 'backout-begin': return this.#begin(first, 'backing out', line);
      case 'backout-ok': return this.#advance(first, ['backing out'], 'backed out', line);
      case 'prepare-begin': return this.#begin(first, 'preparing', line);
      case 'prepare-ok': return this.#advance(first, ['preparing'], 'prepared', line);
      case 'resolve-begin':
        return this.#advance(first, ['prepared'],
          rest[0] === 'commit' ? 'resolving commit' : 'resolving rollback', line);
      case 'resolve-ok': return this.#resolved(first, line);
      case 'put-begin': return this.#putBegin(Number(first), rest, line);
      case 'put-ok': return this.#advance(`put:${first}`, ['putting'], 'put', line);
      case 'get-begin': return this.#getBegin(Number(first), rest[0], line);
      case 'get-ok': return this.#gotten(Number(first), line, undefined, this.#getter(first, rest[0]));
      case 'get-none':
        // Another get of the message may have been seen to take it first: 'not got' already.
        return this.#advance(this.#getter(first, rest[0]), ['getting', 'not got'], 'not got',
          line);
      case 'fail': return;
      default: this.malformed.push(line);
    }
  }

  #unit(name: string, xid: string): UnitFact {
    let unit = this.units.get(name);
    if (unit === undefined) {
      unit = { name, xid, stage: 'active', settled: undefined, puts: [], gets: [],
        seenCommitted: false };
      this.units.set(name, unit);
    }
    return unit;
  }

  /** Ends a unit of work, which may have no effect at all (its gets found no message). */
  #begin(name: string, to: Stage, line: string): void {
    this.#unit(name, name);
    this.#advance(name, ['active'], to, line);
  }

  #advance(name: string, from: readonly Stage[], to: Stage, line: string): void {
    const unit = this.units.get(name);
    if (unit === undefined || !from.includes(unit.stage)) {
      this.malformed.push(`${line} (unit is ${unit?.stage ?? 'unknown'})`);
      return;
    }
    unit.stage = to;
  }

  #resolved(xid: string, line: string): void {
    const unit = this.units.get(xid);
    const to = unit?.stage === 'resolving commit' ? 'resolved commit' : 'resolved rollback';
    this.#advance(xid, ['resolving commit', 'resolving rollback'], to, line);
  }

  #newMessage(id: number, fields: string[], putBy: string, line: string): void {
    const [queue = '', length, persistent] = fields;
    if (this.messages.has(id) || this.retired.has(id) || !Number.isInteger(id)) {
      this.malformed.push(`${line} (id ${id} is not new)`);
      return;
    }
    this.messages.set(id, { id, queue, length: Number(length), persistent: persistent === '1',
      putBy, getters: [] });
  }

  #putInUnit(name: string, fields: string[], line: string): void {
    const unit = this.#unit(name, name);
    const id = Number(fields[0]);
    this.#newMessage(id, fields.slice(1), name, line);
    unit.puts.push(id);
  }

  #putBegin(id: number, fields: string[], line: string): void {
    const name = `put:${id}`;
    this.units.set(name, { name, xid: '', stage: 'putting', settled: undefined, puts: [id],
      gets: [], seenCommitted: false });
    this.#newMessage(id, fields, name, line);
  }

  #getInUnit(name: string, id: number, line: string): void {
    this.#unit(name, name).gets.push(id);
    this.#gotten(id, line, name);
  }

  #getBegin(id: number, token: string | undefined, line: string): void {
    const message = this.messages.get(id);
    if (message === undefined) {
      this.malformed.push(`${line} (unknown message)`);
      return;
    }
    const name = token === undefined ? `get:${id}:${message.getters.length}` : `get:${id}:${token}`;
    this.units.set(name, { name, xid: '', stage: 'getting', settled: undefined, puts: [],
      gets: [id], seenCommitted: false });
    message.getters.push(name);
  }

  /** The get outside syncpoint a line names (by its token), else the one begun last. */
  #getter(id: string, token: string | undefined): string {
    return token === undefined ? this.#lastGet(Number(id)) : `get:${id}:${token}`;
  }

  #lastGet(id: number): string {
    const getters = this.messages.get(id)?.getters ?? [];
    return getters.findLast((name) => name.startsWith('get:')) ?? `get:${id}:?`;
  }

  /**
   * A get returned message `id` (to `by`, a unit of work; else to the get outside syncpoint
   * that began last): its putting unit committed, and an earlier get outside syncpoint still
   * in flight did not take it.
   */
  #gotten(id: number, line: string, by?: string, getter?: string): void {
    const message = this.messages.get(id);
    if (message === undefined) {
      this.malformed.push(`${line} (unknown message)`);
      return;
    }
    const putter = this.units.get(message.putBy);
    if (putter !== undefined) putter.seenCommitted = true;
    const taker = by ?? getter ?? this.#lastGet(id);
    for (const name of message.getters) {
      const getter = this.units.get(name);
      if (name !== taker && getter?.stage === 'getting') getter.stage = 'not got';
    }
    if (by !== undefined) message.getters.push(by);
    else this.#advance(taker, ['getting'], 'got', line);
  }

  #commitBegin(name: string, fields: string[], line: string): void {
    const unit = this.#unit(name, name);
    const listed = (prefix: string) => (fields.find((f) => f.startsWith(prefix)) ?? prefix)
      .slice(prefix.length).split(',').filter((x) => x !== '').map(Number);
    const same = (a: number[], b: number[]) =>
      a.length === b.length && a.every((x, i) => x === b[i]);
    if (!same(listed('puts='), unit.puts) || !same(listed('gets='), unit.gets)) {
      this.malformed.push(
        `${line} (the unit's lines name puts ${unit.puts} and gets ${unit.gets})`);
    }
    this.#advance(name, ['active'], 'committing', line);
  }

  /** In-flight units: those with more than one possible outcome. */
  uncertain(): UnitFact[] {
    return [...this.units.values()].filter((unit) => this.possible(unit).length > 1);
  }
}
