/**
 * The controller's lock manager, which keeps data integrity between concurrent units of work:
 * named resources (`msg:<n>` for a message gotten under syncpoint, `queue:<NAME>` for input
 * opens, later the transmission queues of channels) held in shared or exclusive mode by owners
 * (units of work, connections, queue managers). Requests are granted first come, first served
 * per resource, may wait with a timeout, are refused at once when their wait would close a
 * deadlock, and are all released when their owner ends. It is in-memory state only; the one
 * asynchronous part is the promise (and timer) of a waiting request.
 */
import { Errors, SanmqError } from '../errors.js';
import {
  type Holder,
  type Owner,
  type Resource,
  type Scan,
  type Visit,
  type WaitEdge,
  type Waiter,
  addHolder,
  assert,
  compareNames,
  conflictsWithHolders,
  copyHolder,
  covers,
  cyclePath,
  holderOf,
  holdersOf,
  removeHolder,
  scanOf,
  visitBlockers,
} from './lock-table.js';

export type LockMode = 'shared' | 'exclusive';

export interface LockManagerOptions {
  /** The most requests that may wait at once, over all resources (default 100000). */
  waitersMax?: number;
}

export interface LockHolder {
  owner: string;
  mode: LockMode;
  /** Date.now() when the lock was first granted to the owner (an upgrade keeps it). */
  sinceMs: number;
}

export interface LockWaiter {
  owner: string;
  mode: LockMode;
  waitingSinceMs: number;
  timeoutMs: number;
}

export interface LockState {
  resource: string;
  holders: LockHolder[];
  /** In queue order: the head is granted first. */
  waiters: LockWaiter[];
}

export interface LockStats {
  /** Resources with holders or waiters. */
  resources: number;
  /** Locks held now: one per resource and owner. */
  held: number;
  /** Requests waiting now. */
  waiting: number;
  /** Requests granted since creation, at once or after a wait. */
  granted: number;
  /** Requests that had to wait since creation. */
  waits: number;
  /** Requests refused for their timeout since creation (timeoutMs 0 included). */
  timeouts: number;
  /** Requests refused because their wait would have closed a deadlock. */
  deadlocks: number;
}

const NAME_CHARACTERS_MAX = 256;
const TIMEOUT_MS_DEFAULT = 30_000;
const TIMEOUT_MS_MAX = 86_400_000;
const WAITERS_MAX_DEFAULT = 100_000;
const WAITERS_MAX_LIMIT = 10_000_000;


const LockErrors = {
  timeout: (request: Pick<Waiter, 'owner' | 'mode' | 'timeoutMs'>, name: string,
    waitedMs: number) =>
    new SanmqError(
      'E_LOCK_TIMEOUT',
      `owner ${request.owner} timed out after ${waitedMs} ms waiting for resource ${name} in ` +
        `${request.mode} mode`,
      { resource: name, owner: request.owner, mode: request.mode, timeoutMs: request.timeoutMs },
    ),
  deadlock: (waiter: Waiter, cycle: WaitEdge[]) =>
    new SanmqError(
      'E_DEADLOCK',
      `a wait of owner ${waiter.owner} for resource ${waiter.resource.name} in ${waiter.mode} ` +
        'mode would deadlock: ' +
        cycle.map((edge) => `${edge.owner} waits for ${edge.waitsFor} on ${edge.resource}`)
          .join(', '),
      { resource: waiter.resource.name, owner: waiter.owner, mode: waiter.mode, cycle },
    ),
  ended: (waiter: Waiter) =>
    new SanmqError(
      'E_CLOSED',
      `the lock owner ${waiter.owner} ended while waiting for ${waiter.resource.name}`,
    ),
  busy: (waiting: number, waitersMax: number) =>
    new SanmqError(
      'E_BUSY',
      `the lock manager holds ${waiting} waits; at most ${waitersMax} may wait`,
    ),
} as const;

// Local checks rather than ../storage/options.js: that module loads the native addon, and the
// lock manager must stay usable (and testable) without it.
function requireName(value: unknown, name: 'resource' | 'owner' | 'parent'): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > NAME_CHARACTERS_MAX) {
    throw Errors.invalidArgument(
      `${name} must be a non-empty string of at most ${NAME_CHARACTERS_MAX} characters`,
    );
  }
  return value;
}

function requireMode(value: unknown): LockMode {
  if (value !== 'shared' && value !== 'exclusive') {
    throw Errors.invalidArgument('mode must be one of shared, exclusive');
  }
  return value;
}

/** The options object's value of `key` (the only option allowed), after checking its shape. */
function onlyOption(options: unknown, key: string, where: string): unknown {
  if (options === undefined) return undefined;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw Errors.invalidArgument('options must be an object');
  }
  for (const name of Object.keys(options)) {
    if (name !== key) throw Errors.invalidArgument(`options.${name} is not an option of ${where}`);
  }
  return (options as Record<string, unknown>)[key];
}

function optionalInteger(value: unknown, name: string, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0 || value > max) {
    throw Errors.invalidArgument(`${name} must be an integer from 0 to ${max}`);
  }
  return value;
}

/**
 * Shared locks are compatible with each other; an exclusive lock with nothing, except that an
 * owner never conflicts with itself: asking again for a lock it holds in the same or a stronger
 * mode is granted at once (without counting: one release frees it). Other requests wait in
 * arrival order per resource, with one exception: an upgrade (shared to exclusive) queues ahead
 * of ordinary requests, since every one of those waits for the upgrading holder anyway; putting
 * it behind them would deadlock it with the first exclusive request queued. Owners related by
 * adopt() are distinct owners for conflicts and deadlocks; the tree only says whom releaseOwner
 * ends together.
 */
export class LockManager {
  readonly #resources = new Map<string, Resource>();
  readonly #owners = new Map<string, Owner>();
  readonly #waitersMax: number;
  #held = 0;
  #waiting = 0;
  #granted = 0;
  #waits = 0;
  #timeouts = 0;
  #deadlocks = 0;

  constructor(options?: LockManagerOptions) {
    const waitersMax = onlyOption(options, 'waitersMax', 'LockManager');
    this.#waitersMax = optionalInteger(
      waitersMax, 'options.waitersMax', WAITERS_MAX_LIMIT, WAITERS_MAX_DEFAULT,
    );
  }

  /** Grants at once or returns false; never waits. */
  tryAcquire(resource: string, owner: string, mode: LockMode): boolean {
    return this.#grantAtOnce(
      requireName(resource, 'resource'), requireName(owner, 'owner'), requireMode(mode),
    );
  }

  /**
   * Waits up to timeoutMs (default 30000; 0 = do not wait: reject at once with E_LOCK_TIMEOUT
   * if not grantable).
   */
  async acquire(
    resource: string,
    owner: string,
    mode: LockMode,
    options?: { timeoutMs?: number },
  ): Promise<void> {
    requireName(resource, 'resource');
    requireName(owner, 'owner');
    requireMode(mode);
    const timeoutMs = optionalInteger(
      onlyOption(options, 'timeoutMs', 'acquire'), 'options.timeoutMs', TIMEOUT_MS_MAX,
      TIMEOUT_MS_DEFAULT,
    );
    if (this.#grantAtOnce(resource, owner, mode)) return;
    const target = this.#resources.get(resource);
    assert(target !== undefined, `a refused request for ${resource} has no resource`);
    if (timeoutMs === 0) {
      this.#timeouts++;
      throw LockErrors.timeout({ owner, mode, timeoutMs }, resource, 0);
    }
    if (this.#waiting >= this.#waitersMax) throw LockErrors.busy(this.#waiting, this.#waitersMax);
    return this.#wait(target, owner, mode, timeoutMs);
  }

  /** Returns false when the owner held nothing there. Its waits there, if any, go on waiting. */
  release(resource: string, owner: string): boolean {
    const target = this.#resources.get(requireName(resource, 'resource'));
    requireName(owner, 'owner');
    if (target === undefined || !removeHolder(target, owner)) return false;
    this.#unrecordHold(target, owner);
    this.#grantWaiters(target);
    this.#dropIfEmpty(target);
    this.#forgetIfIdle(owner);
    return true;
  }

  /** Registers `owner` as a child of `parent` (unit of work -> connection -> queue manager). */
  adopt(owner: string, parent: string): void {
    requireName(owner, 'owner');
    requireName(parent, 'parent');
    if (owner === parent) throw Errors.invalidArgument(`owner ${owner} cannot adopt itself`);
    const current = this.#owners.get(owner)?.parent;
    if (current === parent) return;
    if (current !== undefined) {
      throw Errors.invalidArgument(`owner ${owner} is already a child of ${current}`);
    }
    // The tree has no cycle, so this walk ends within the number of owners.
    for (let above: string | undefined = parent; above !== undefined;) {
      if (above === owner) {
        throw Errors.invalidArgument(`owner ${owner} cannot adopt ${parent}: ${parent} ` +
          `descends from ${owner}`);
      }
      above = this.#owners.get(above)?.parent;
    }
    this.#owner(owner).parent = parent;
    const family = this.#owner(parent);
    (family.children ??= new Set()).add(owner);
  }

  /**
   * Ends `owner` and its descendants: their waits reject with E_CLOSED, their locks are released
   * (waiters that can now run are granted) and they are forgotten, with their place in the tree.
   * Returns the number of locks released.
   */
  releaseOwner(owner: string): number {
    requireName(owner, 'owner');
    const record = this.#owners.get(owner);
    if (record === undefined) return 0;
    const family = this.#descendants(owner);
    const touched = new Set<Resource>();
    for (const member of family.values()) {
      for (const waiter of [...(member.waits ?? [])]) {
        this.#dequeue(waiter);
        touched.add(waiter.resource);
        waiter.reject(LockErrors.ended(waiter));
      }
    }
    let released = 0;
    for (const [id, member] of family) {
      for (const resource of [...member.held]) {
        assert(removeHolder(resource, id), `${id} is recorded as a holder of ${resource.name}`);
        this.#unrecordHold(resource, id);
        touched.add(resource);
        released++;
      }
      assert(member.waits === undefined, `${id} still waits after its waits were cancelled`);
      this.#owners.delete(id);
    }
    if (record.parent !== undefined) {
      this.#owners.get(record.parent)?.children?.delete(owner);
      this.#forgetIfIdle(record.parent);
    }
    for (const resource of touched) {
      this.#grantWaiters(resource);
      this.#dropIfEmpty(resource);
    }
    return released;
  }

  holders(resource: string): LockHolder[] {
    const target = this.#resources.get(requireName(resource, 'resource'));
    return target === undefined ? [] : holdersOf(target).map(copyHolder);
  }

  /** The locks `owner` itself holds (not its descendants'), sorted by resource. */
  heldBy(owner: string): Array<{ resource: string; mode: LockMode }> {
    const record = this.#owners.get(requireName(owner, 'owner'));
    if (record === undefined) return [];
    const locks = [...record.held].map((resource) => {
      const holder = holderOf(resource, owner);
      assert(holder !== undefined, `${owner} is recorded as a holder of ${resource.name}`);
      return { resource: resource.name, mode: holder.mode };
    });
    return locks.sort((first, second) => compareNames(first.resource, second.resource));
  }

  /** Every resource with holders or waiters, sorted by resource. */
  snapshot(): LockState[] {
    const states = [...this.#resources.values()].map((resource) => ({
      resource: resource.name,
      holders: holdersOf(resource).map(copyHolder),
      waiters: (resource.waiters ?? []).map((waiter) => ({
        owner: waiter.owner,
        mode: waiter.mode,
        waitingSinceMs: waiter.waitingSinceMs,
        timeoutMs: waiter.timeoutMs,
      })),
    }));
    return states.sort((first, second) => compareNames(first.resource, second.resource));
  }

  stats(): LockStats {
    return {
      resources: this.#resources.size,
      held: this.#held,
      waiting: this.#waiting,
      granted: this.#granted,
      waits: this.#waits,
      timeouts: this.#timeouts,
      deadlocks: this.#deadlocks,
    };
  }

  /**
   * The fast path: grants the request if it needs no wait. A request needs none when the owner
   * holds the lock in the same or a stronger mode, when it upgrades as the only holder, or when
   * no other holder conflicts and no incompatible request waits (first come, first served).
   */
  #grantAtOnce(name: string, owner: string, mode: LockMode): boolean {
    const resource = this.#resources.get(name);
    if (resource === undefined) {
      const holder: Holder = { owner, mode, sinceMs: Date.now() };
      const created: Resource = {
        name, holder, sharers: undefined, waiters: undefined, exclusiveWaiters: 0,
      };
      this.#resources.set(name, created);
      this.#recordHold(created, owner);
      this.#granted++;
      return true;
    }
    const held = holderOf(resource, owner);
    if (held !== undefined && covers(held.mode, mode)) {
      this.#granted++;
      return true;
    }
    if (conflictsWithHolders(resource, owner, mode)) return false;
    // An upgrade by the only holder goes before waiters, which all wait for that holder anyway.
    const queued =
      mode === 'exclusive' ? resource.waiters !== undefined : resource.exclusiveWaiters > 0;
    if (held === undefined && queued) return false;
    this.#grant(resource, owner, mode);
    return true;
  }

  #grant(resource: Resource, owner: string, mode: LockMode): void {
    const held = holderOf(resource, owner);
    this.#granted++;
    if (held === undefined) {
      addHolder(resource, { owner, mode, sinceMs: Date.now() });
      this.#recordHold(resource, owner);
    } else if (!covers(held.mode, mode)) {
      assert(held === resource.holder, `${owner} upgrades ${resource.name} beside other holders`);
      held.mode = 'exclusive';
    }
  }

  #recordHold(resource: Resource, owner: string): void {
    this.#owner(owner).held.add(resource);
    this.#held++;
  }

  #unrecordHold(resource: Resource, owner: string): void {
    const record = this.#owners.get(owner);
    assert(record?.held.delete(resource) === true, 'every lock held is recorded by its owner');
    this.#held--;
    assert(this.#held >= 0, 'more locks released than held');
  }

  /** Queues the request; refuses it at once if its wait would close a cycle of waits. */
  #wait(resource: Resource, owner: string, mode: LockMode, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        resource,
        owner,
        mode,
        upgrade: holderOf(resource, owner) !== undefined,
        waitingSinceMs: Date.now(),
        timeoutMs,
        timer: undefined,
        resolve,
        reject,
      };
      // The search runs with the request in place: as an upgrade it queues ahead of waiters,
      // who then wait for it, so new edges can end at the owner as well as start from it.
      this.#enqueue(waiter);
      const cycle = this.#findCycle(owner);
      if (cycle !== undefined) {
        this.#dequeue(waiter);
        this.#forgetIfIdle(owner);
        this.#deadlocks++;
        reject(LockErrors.deadlock(waiter, cycle));
        return;
      }
      this.#waits++;
      // Not unref'd: a waiting request keeps the process alive like any pending promise.
      waiter.timer = setTimeout(() => this.#expire(waiter), timeoutMs);
    });
  }

  #enqueue(waiter: Waiter): void {
    const { resource, owner, mode } = waiter;
    const held = holderOf(resource, owner);
    assert(held === undefined || !covers(held.mode, mode), 'no owner waits for a lock it holds');
    const queue = (resource.waiters ??= []);
    let position = queue.length;
    if (waiter.upgrade) {
      position = 0;
      while (queue[position]?.upgrade === true) position++;
    }
    queue.splice(position, 0, waiter);
    if (mode === 'exclusive') resource.exclusiveWaiters++;
    (this.#owner(owner).waits ??= new Set()).add(waiter);
    this.#waiting++;
  }

  /** Takes the waiter out of its queue and stops its timer; the caller settles its promise. */
  #dequeue(waiter: Waiter): void {
    const resource = waiter.resource;
    const queue = resource.waiters;
    const position = queue === undefined ? -1 : queue.indexOf(waiter);
    assert(queue !== undefined && position >= 0, 'a waiter leaves a queue it is in');
    queue.splice(position, 1);
    if (queue.length === 0) resource.waiters = undefined;
    if (waiter.mode === 'exclusive') resource.exclusiveWaiters--;
    const record = this.#owners.get(waiter.owner);
    assert(record?.waits?.delete(waiter) === true, 'every wait is recorded by its owner');
    if (record.waits.size === 0) record.waits = undefined;
    clearTimeout(waiter.timer);
    waiter.timer = undefined;
    this.#waiting--;
    assert(this.#waiting >= 0 && resource.exclusiveWaiters >= 0, 'more waits ended than began');
  }

  #expire(waiter: Waiter): void {
    const resource = waiter.resource;
    this.#dequeue(waiter);
    this.#timeouts++;
    waiter.reject(LockErrors.timeout(waiter, resource.name, Date.now() - waiter.waitingSinceMs));
    // It may have been an incompatible request ahead of others that can run now.
    this.#grantWaiters(resource);
    this.#dropIfEmpty(resource);
    this.#forgetIfIdle(waiter.owner);
  }

  /** Grants waiters from the head of the queue for as long as they fit beside the holders. */
  #grantWaiters(resource: Resource): void {
    for (let head = resource.waiters?.[0]; head !== undefined; head = resource.waiters?.[0]) {
      if (conflictsWithHolders(resource, head.owner, head.mode)) return;
      this.#dequeue(head);
      this.#grant(resource, head.owner, head.mode);
      head.resolve();
    }
  }

  #dropIfEmpty(resource: Resource): void {
    if (resource.holder !== undefined || resource.sharers !== undefined) return;
    assert(resource.waiters === undefined, 'a resource with waiters has a holder');
    assert(this.#resources.get(resource.name) === resource, 'every resource is indexed');
    this.#resources.delete(resource.name);
  }

  #owner(id: string): Owner {
    let record = this.#owners.get(id);
    if (record === undefined) {
      record = { held: new Set(), waits: undefined, parent: undefined, children: undefined };
      this.#owners.set(id, record);
    }
    return record;
  }

  /** Forgets an owner that holds, awaits and relates to nothing, so owners do not accumulate. */
  #forgetIfIdle(id: string): void {
    const record = this.#owners.get(id);
    if (record === undefined || record.held.size > 0 || record.waits !== undefined) return;
    if (record.parent !== undefined || (record.children?.size ?? 0) > 0) return;
    this.#owners.delete(id);
  }

  /** The owner and all its descendants, the owner first. */
  #descendants(id: string): Map<string, Owner> {
    const family = new Map<string, Owner>();
    const pending = [id];
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const record = this.#owners.get(next);
      if (record === undefined || family.has(next)) continue;
      family.set(next, record);
      for (const child of record.children ?? []) pending.push(child);
    }
    return family;
  }

  /**
   * Whether some owner may wait for `owner` (erring towards yes): a cycle through it needs one.
   * Most owners that must wait have none (a unit waiting for a queue while it holds messages
   * that nobody else wants), and this spares them a search of everything they wait for, which
   * would otherwise make a long queue cost time quadratic in its length.
   */
  #mayBeAwaited(owner: string): boolean {
    const record = this.#owners.get(owner);
    if (record === undefined) return false;
    for (const resource of record.held) if (resource.waiters !== undefined) return true;
    for (const waiter of record.waits ?? []) {
      if (waiter.resource.waiters?.at(-1) !== waiter) return true;
    }
    return false;
  }

  /**
   * Searches the waits-for relation, breadth first, for a path from `root` back to itself. A
   * waiting owner waits for every other owner holding its resource in an incompatible mode and
   * for every other owner queued ahead of it in an incompatible mode. Owners, not requests, are
   * the nodes: an owner with a pending request is blocked. Returns the cycle, root first.
   */
  #findCycle(root: string): WaitEdge[] | undefined {
    if (!this.#mayBeAwaited(root)) return undefined;
    const reached = new Map<string, WaitEdge>();
    const frontier: string[] = [];
    let closing: WaitEdge | undefined;
    const visit: Visit = (owner, waitsFor, resource) => {
      if (waitsFor === owner || reached.has(waitsFor)) return false;
      if (waitsFor === root) {
        closing = { owner, waitsFor, resource };
        return true;
      }
      reached.set(waitsFor, { owner, waitsFor, resource });
      frontier.push(waitsFor);
      return false;
    };
    // The root's own edges are followed without the shared scans: they skip the root, and the
    // others must still reach it through the same prefixes.
    let found = false;
    for (const waiter of this.#owners.get(root)?.waits ?? []) {
      found = visitBlockers(waiter, undefined, visit);
      if (found) break;
    }
    const scans = new Map<Resource, Scan>();
    // Each owner enters the frontier once, so the loop ends within the number of owners.
    for (let index = 0; !found && index < frontier.length; index++) {
      const waits = this.#owners.get(frontier[index] ?? '')?.waits ?? [];
      for (const waiter of waits) {
        if (visitBlockers(waiter, scanOf(scans, waiter.resource), visit)) {
          found = true;
          break;
        }
      }
    }
    return closing === undefined ? undefined : cyclePath(root, closing, reached);
  }
}
