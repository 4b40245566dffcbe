/**
 * A seeded workload of units of work for the controller's crash tests. Several sessions run at
 * once over a few queues: units that put and get under syncpoint across queues and end in a
 * commit, a backout or a prepare (resolved at once, later, or never), large units whose puts
 * spill to the LUN, and puts and gets outside syncpoint. Every message carries its identity
 * (message id and body both encode a unique number), and the workload logs one line before
 * and one after every effect it asks for, so that a checker knows what was acknowledged and
 * what was in flight when the process died (unit-history.ts reads the lines back).
 */
import { isSanmqError, type Controller, type Message, type Session } from '../../src/index.js';
import { Random } from './random.js';

export { Random };

export const UNIT_QUEUES = ['UOW.A', 'UOW.B', 'UOW.C'] as const;

const ID_MAGIC = 0x554f5731;   // "UOW1"
const BODY_MAGIC = 0x554f5742; // "UOWB"
const BODY_HEADER_BYTES = 12;

/** Ids of one session's messages: firstId + session * ID_SPAN + n. */
export const ID_SPAN = 100_000;

/** The 24-byte message id of message `id`. */
export function messageIdOf(id: number): Buffer {
  const bytes = Buffer.alloc(24);
  bytes.writeUInt32BE(ID_MAGIC, 0);
  bytes.writeUInt32BE(id, 4);
  bytes.writeUInt32BE((id ^ 0x5a5a5a5a) >>> 0, 20);
  return bytes;
}

/** The number a message id encodes, or undefined if it is not one of ours. */
export function identityOf(messageId: Buffer): number | undefined {
  if (messageId.length !== 24 || messageId.readUInt32BE(0) !== ID_MAGIC) return undefined;
  const id = messageId.readUInt32BE(4);
  return messageId.equals(messageIdOf(id)) ? id : undefined;
}

/** The body of message `id`: a header naming it and its length, then a pattern of the id. */
export function bodyOf(id: number, length: number): Buffer {
  const body = Buffer.alloc(Math.max(length, BODY_HEADER_BYTES));
  const pattern = Buffer.alloc(8);
  pattern.writeUInt32LE(id, 0);
  pattern.writeUInt32LE(Math.imul(id, 2654435761) >>> 0, 4);
  body.fill(pattern, BODY_HEADER_BYTES);
  body.writeUInt32LE(BODY_MAGIC, 0);
  body.writeUInt32LE(id, 4);
  body.writeUInt32LE(length, 8);
  return body;
}


export interface UnitWorkloadOptions {
  seed: number;
  /** Unique per run: unit names (which are also their xids) start with it. */
  tag: string;
  /** Session s numbers its messages from firstId + s * ID_SPAN. */
  firstId: number;
  sessions: number;
  /** Steps each session takes at most. */
  stepsMax: number;
  /** No step starts after this time (Date.now()). */
  deadlineMs?: number;
  /** Every session's i-th step starts together; the next round waits for all of them. */
  lockstep: boolean;
  /** The large units: `count` puts of `bytes` each (more than half an append spills). */
  large: { count: number; bytes: number };
  /** Gets are preferred while more than this many messages are known to be queued. */
  backlogMax: number;
  /** Where the lines go: they must be durable when log() returns (a SIGKILL may follow). */
  log: (line: string) => void;
}

/** A message the workload knows about. */
export interface Known {
  id: number;
  queue: string;
  length: number;
  persistent: boolean;
}

export interface WorkloadResult {
  steps: number;
  /** Steps that ended in each way. */
  ends: Record<'commit' | 'backout' | 'prepare' | 'resolve' | 'put' | 'get', number>;
  /** The rejection each failed session met. */
  failures: Array<{ operation: string; code: string; message: string }>;
}

/** What every session of one run shares: the messages it may get and the units in doubt. */
interface Shared {
  controller: Controller;
  options: UnitWorkloadOptions;
  available: Map<number, Known>;
  /**
   * The unit that got each message last. A backout hands its messages back one by one, so
   * another unit may get one before the backout ends: then it is not available again.
   */
  holders: Map<number, string>;
  prepared: Map<string, { puts: Known[]; gets: Known[] }>;
  result: WorkloadResult;
  /** Gets outside syncpoint begun so far (their names: process id and this count). */
  getters: number;
}

class Failed extends Error {}

/** Runs the workload; resolves when the steps are done or every session met a failure. */
export async function runUnitWorkload(controller: Controller, initial: Iterable<Known>,
  options: UnitWorkloadOptions): Promise<WorkloadResult> {
  const result: WorkloadResult = { steps: 0, failures: [],
    ends: { commit: 0, backout: 0, prepare: 0, resolve: 0, put: 0, get: 0 } };
  const shared: Shared = { controller, options, available: new Map(), holders: new Map(),
    prepared: new Map(), result, getters: 0 };
  for (const known of initial) shared.available.set(known.id, known);
  const sessions = Array.from({ length: options.sessions }, (_, s) => new Actor(shared, s));
  const running = () => Date.now() < (options.deadlineMs ?? Infinity);
  if (options.lockstep) {
    for (let step = 0; step < options.stepsMax && running(); step++) {
      const live = sessions.filter((actor) => !actor.failed);
      if (live.length === 0) break;
      await Promise.all(live.map((actor) => actor.step()));
    }
  } else {
    await Promise.all(sessions.map(async (actor) => {
      for (let step = 0; step < options.stepsMax && running() && !actor.failed; step++) {
        await actor.step();
      }
    }));
  }
  await Promise.all(sessions.map((actor) => actor.close()));
  return result;
}

/** One session and its own random stream and message numbers. */
class Actor {
  readonly #shared: Shared;
  readonly #random: Random;
  readonly #name: string;
  #session: Session | undefined;
  #nextId: number;
  #units = 0;
  failed = false;

  constructor(shared: Shared, index: number) {
    this.#shared = shared;
    this.#random = new Random(shared.options.seed * 7919 + index * 104729 + 1);
    this.#name = `${shared.options.tag}.${index}`;
    this.#nextId = shared.options.firstId + index * ID_SPAN;
  }

  #log(line: string): void {
    this.#shared.options.log(line);
  }

  /** Runs a controller call; a rejection is logged and ends this session's work. */
  async #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      const code = isSanmqError(error) ? error.code : 'not coded';
      const message = error instanceof Error ? error.message : String(error);
      this.#log(`fail ${what} ${code}: ${message.replace(/\n/g, ' ')}`);
      this.#shared.result.failures.push({ operation: what, code, message });
      this.failed = true;
      throw new Failed(what);
    }
  }

  async step(): Promise<void> {
    try {
      const { controller } = this.#shared;
      this.#session ??= await this.#call('session', async () => controller.session());
      await this.#step();
      this.#shared.result.steps++;
    } catch (error) {
      if (error instanceof Failed) return;
      this.failed = true;
      throw error;
    }
  }

  async close(): Promise<void> {
    await this.#session?.close().catch(() => undefined);
  }

  /** Picks the next step; the share of gets follows the backlog, which stays in a band. */
  async #step(): Promise<void> {
    const { available, prepared, options } = this.#shared;
    const backlogged = available.size > options.backlogMax;
    const short = available.size < options.backlogMax / 4;
    const roll = this.#random.below(100);
    if (roll < 45) return this.#unit(backlogged ? 0.15 : short ? 0.8 : 0.6);
    if (roll < 50 && !backlogged) return this.#largeUnit();
    if (roll < 68 && !backlogged) return this.#put();
    if (roll < (short ? 76 : 88) && available.size > 0) return this.#get();
    if (roll < 95 && prepared.size > 0) return this.#resolveLater();
    return this.#unit(short ? 0.8 : 0.3);
  }

  #newMessage(): Known {
    const r = this.#random.below(100);
    const length = r < 70 ? 16 + this.#random.below(1000)
      : r < 95 ? 1000 + this.#random.below(8000) : 8000 + this.#random.below(40_000);
    return { id: this.#nextId++, queue: this.#random.pick(UNIT_QUEUES), length,
      persistent: this.#random.below(20) !== 0 };
  }

  #putInput(known: Known) {
    return { body: bodyOf(known.id, known.length), messageId: messageIdOf(known.id),
      persistent: known.persistent };
  }

  /** A unit of 1–6 puts and gets under syncpoint over any queues, then its end. */
  async #unit(putShare: number): Promise<void> {
    const unit = `${this.#name}.${this.#units++}`;
    const puts: Known[] = [];
    const gets: Known[] = [];
    const operations = 1 + this.#random.below(6);
    for (let i = 0; i < operations; i++) {
      if (this.#random.next() / 2 ** 32 < putShare) puts.push(await this.#syncpointPut(unit));
      else {
        const got = await this.#syncpointGet(unit, this.#random.pick(UNIT_QUEUES));
        if (got !== undefined) gets.push(got);
      }
    }
    await this.#end(unit, puts, gets);
  }

  /** A unit of large puts to one queue: more than half an append, so they spill. */
  async #largeUnit(): Promise<void> {
    const unit = `${this.#name}.${this.#units++}`;
    const queue = this.#random.pick(UNIT_QUEUES);
    const { count, bytes } = this.#shared.options.large;
    const puts: Known[] = [];
    for (let i = 0; i < count; i++) {
      const known = { id: this.#nextId++, queue, length: bytes, persistent: true };
      puts.push(await this.#syncpointPut(unit, known));
    }
    const gets: Known[] = [];
    const got = await this.#syncpointGet(unit, this.#random.pick(UNIT_QUEUES));
    if (got !== undefined) gets.push(got);
    await this.#end(unit, puts, gets);
  }

  async #syncpointPut(unit: string, known = this.#newMessage()): Promise<Known> {
    const session = this.#session as Session;
    const persistent = known.persistent ? 1 : 0;
    this.#log(`uput ${unit} ${known.id} ${known.queue} ${known.length} ${persistent}`);
    await this.#call(`uput ${unit}`, () => session.put(known.queue, this.#putInput(known),
      { syncpoint: true }));
    return known;
  }

  /** A get under syncpoint of whatever message comes first (none: undefined). */
  async #syncpointGet(unit: string, queue: string): Promise<Known | undefined> {
    const session = this.#session as Session;
    let message: Message;
    try {
      message = await session.get(queue, { syncpoint: true });
    } catch (error) {
      if (isSanmqError(error, 'E_NO_MSG')) return undefined;
      return this.#call(`uget ${unit}`, () => Promise.reject(error));
    }
    const id = identityOf(message.messageId);
    if (id === undefined) throw new Error(`unit ${unit} got a message that is not ours`);
    this.#log(`uget-ok ${unit} ${id}`);
    const known = this.#shared.available.get(id) ??
      { id, queue, length: message.body.length, persistent: message.persistent };
    this.#shared.available.delete(id);
    this.#shared.holders.set(id, unit);
    return known;
  }

  /** The unit ended: its gets are gone, or (when `back`) available again if still its own. */
  #release(unit: string, gets: Known[], back: boolean): void {
    const { available, holders } = this.#shared;
    for (const known of gets) {
      if (holders.get(known.id) !== unit) continue;
      holders.delete(known.id);
      if (back) available.set(known.id, known);
    }
  }

  /** Commit, backout or prepare (then resolve now, later or never). */
  async #end(unit: string, puts: Known[], gets: Known[]): Promise<void> {
    const session = this.#session as Session;
    const { available, prepared, result } = this.#shared;
    const roll = this.#random.below(100);
    if (roll < 60) {
      this.#log(`commit-begin ${unit} puts=${puts.map((k) => k.id).join(',')} ` +
        `gets=${gets.map((k) => k.id).join(',')}`);
      await this.#call(`commit ${unit}`, () => session.commit());
      this.#log(`commit-ok ${unit}`);
      for (const known of puts) available.set(known.id, known);
      this.#release(unit, gets, false);
      result.ends.commit++;
      return;
    }
    if (roll < 80) {
      this.#log(`backout-begin ${unit}`);
      await this.#call(`backout ${unit}`, () => session.backout());
      this.#log(`backout-ok ${unit}`);
      this.#release(unit, gets, true);
      result.ends.backout++;
      return;
    }
    this.#log(`prepare-begin ${unit}`);
    await this.#call(`prepare ${unit}`, () => session.prepare(unit));
    this.#log(`prepare-ok ${unit}`);
    result.ends.prepare++;
    prepared.set(unit, { puts, gets });
    if (this.#random.below(2) === 0) await this.#resolve(unit);
  }

  async #resolve(xid: string): Promise<void> {
    const { controller, available, prepared, result } = this.#shared;
    const unit = prepared.get(xid);
    if (unit === undefined) return;
    prepared.delete(xid);
    const outcome = this.#random.below(2) === 0 ? 'commit' : 'rollback';
    this.#log(`resolve-begin ${xid} ${outcome}`);
    await this.#call(`resolve ${xid}`, () => controller.resolve(xid, outcome));
    this.#log(`resolve-ok ${xid}`);
    if (outcome === 'commit') for (const known of unit.puts) available.set(known.id, known);
    this.#release(xid, unit.gets, outcome === 'rollback');
    result.ends.resolve++;
  }

  async #resolveLater(): Promise<void> {
    await this.#resolve(this.#random.pick([...this.#shared.prepared.keys()]));
  }

  /** A put outside syncpoint. */
  async #put(): Promise<void> {
    const session = this.#session as Session;
    const known = this.#newMessage();
    this.#log(`put-begin ${known.id} ${known.queue} ${known.length} ${known.persistent ? 1 : 0}`);
    await this.#call(`put ${known.id}`, () => session.put(known.queue, this.#putInput(known)));
    this.#log(`put-ok ${known.id}`);
    this.#shared.available.set(known.id, known);
    this.#shared.result.ends.put++;
  }

  /** A get outside syncpoint of a message named by its id (so an in-flight get names it). */
  async #get(): Promise<void> {
    const session = this.#session as Session;
    const { available, result } = this.#shared;
    const known = this.#random.pick([...available.values()]);
    available.delete(known.id);
    // Gets of one message may overlap (it may come back to `available` from a backout while
    // an earlier get of it is still in flight): each names itself, so its lines are its own.
    const getter = `${process.pid}.${++this.#shared.getters}`;
    this.#log(`get-begin ${known.id} ${getter}`);
    try {
      await session.get(known.queue, { messageId: messageIdOf(known.id) });
    } catch (error) {
      // Another session's get under syncpoint took it first.
      if (!isSanmqError(error, 'E_NO_MSG')) {
        await this.#call(`get ${known.id}`, () => Promise.reject(error));
      }
      this.#log(`get-none ${known.id} ${getter}`);
      return;
    }
    this.#log(`get-ok ${known.id} ${getter}`);
    result.ends.get++;
  }
}
