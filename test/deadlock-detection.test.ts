/**
 * Deadlock detection: a request whose wait would close a cycle of waits is refused at once with
 * E_DEADLOCK naming the cycle, the other waits go on, and waits that close no cycle are never
 * refused. A seeded random run checks the lock manager against a model of its own after every
 * step (print the seed; SANMQ_SEED=<seed> repeats a run).
 */
import t from 'tap';

import { LockManager, type LockMode, type LockState } from '../src/controller/locks.js';
import { SanmqError } from '../src/errors.js';
import { flush, track, type Tracked, granted } from './helpers/track.js';


t.test('two owners waiting for each other: the request closing the cycle fails with ' +
  'E_DEADLOCK, and the other is granted when the refused owner ends', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('msg:1', 'unit:A', 'exclusive');
  locks.tryAcquire('msg:2', 'unit:B', 'exclusive');
  const first = track(locks.acquire('msg:2', 'unit:A', 'exclusive'));
  await t.rejects(locks.acquire('msg:1', 'unit:B', 'exclusive'), {
    code: 'E_DEADLOCK',
    message: 'a wait of owner unit:B for resource msg:1 in exclusive mode would deadlock: ' +
      'unit:B waits for unit:A on msg:1, unit:A waits for unit:B on msg:2',
  });
  t.equal(first.settled, false, 'the other wait goes on');
  t.same(locks.snapshot().map((state) => state.waiters.map((waiter) => waiter.owner)),
    [[], ['unit:A']], 'only the refused request left the queue');
  t.match(locks.stats(), { deadlocks: 1, waits: 1, waiting: 1 });
  t.equal(locks.releaseOwner('unit:B'), 1);
  await flush();
  t.same(first, granted);
  t.same(locks.heldBy('unit:A'), [
    { resource: 'msg:1', mode: 'exclusive' },
    { resource: 'msg:2', mode: 'exclusive' },
  ]);
});

t.test('three owners in a ring: the third wait fails with E_DEADLOCK naming all three',
  async (t) => {
    const locks = new LockManager();
    for (const [owner, resource] of [['a', 'r1'], ['b', 'r2'], ['c', 'r3']] as const) {
      locks.tryAcquire(resource, owner, 'exclusive');
    }
    const waits = [track(locks.acquire('r2', 'a', 'exclusive'))];
    waits.push(track(locks.acquire('r3', 'b', 'shared')));
    const error: unknown = await locks.acquire('r1', 'c', 'shared').catch((reason) => reason);
    t.ok(error instanceof SanmqError);
    t.equal((error as SanmqError).code, 'E_DEADLOCK');
    t.equal((error as SanmqError).message,
      'a wait of owner c for resource r1 in shared mode would deadlock: ' +
      'c waits for a on r1, a waits for b on r2, b waits for c on r3');
    t.same((error as SanmqError).details['cycle'], [
      { owner: 'c', waitsFor: 'a', resource: 'r1' },
      { owner: 'a', waitsFor: 'b', resource: 'r2' },
      { owner: 'b', waitsFor: 'c', resource: 'r3' },
    ]);
    locks.releaseOwner('c');
    await flush();
    t.same(waits[1], granted, 'b got r3');
    locks.releaseOwner('b');
    await flush();
    t.same(waits[0], granted, 'then a got r2');
  });

t.test('two owners upgrading the same shared lock: the second upgrade fails with E_DEADLOCK ' +
  'and the first is granted when the second owner releases', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'c1', 'shared');
  locks.tryAcquire('queue:A', 'c2', 'shared');
  const first = track(locks.acquire('queue:A', 'c1', 'exclusive'));
  await t.rejects(locks.acquire('queue:A', 'c2', 'exclusive'), {
    code: 'E_DEADLOCK',
    message: 'a wait of owner c2 for resource queue:A in exclusive mode would deadlock: ' +
      'c2 waits for c1 on queue:A, c1 waits for c2 on queue:A',
  });
  t.same(locks.heldBy('c2'), [{ resource: 'queue:A', mode: 'shared' }], 'c2 keeps its lock');
  locks.release('queue:A', 'c2');
  await flush();
  t.same(first, granted);
  t.same(locks.heldBy('c1'), [{ resource: 'queue:A', mode: 'exclusive' }]);
});

t.test('a chain of waits without a cycle is not a deadlock, and each wait is granted in turn',
  async (t) => {
    const locks = new LockManager();
    for (const [owner, resource] of [['a', 'r1'], ['b', 'r2'], ['c', 'r3']] as const) {
      locks.tryAcquire(resource, owner, 'exclusive');
    }
    const a = track(locks.acquire('r2', 'a', 'exclusive'));
    const b = track(locks.acquire('r3', 'b', 'exclusive'));
    const d = track(locks.acquire('r1', 'd', 'shared'));
    await flush();
    t.same([a.settled, b.settled, d.settled], [false, false, false], 'all three wait');
    t.equal(locks.stats().deadlocks, 0);
    locks.releaseOwner('c');
    await flush();
    t.same(b, granted);
    locks.releaseOwner('b');
    await flush();
    t.same(a, granted);
    locks.releaseOwner('a');
    await flush();
    t.same(d, granted);
  });

t.test('readers of each other\'s resources are no deadlock: shared locks are granted',
  async (t) => {
    const locks = new LockManager();
    locks.tryAcquire('queue:A', 'c1', 'shared');
    locks.tryAcquire('queue:B', 'c2', 'shared');
    await locks.acquire('queue:B', 'c1', 'shared', { timeoutMs: 0 });
    await locks.acquire('queue:A', 'c2', 'shared', { timeoutMs: 0 });
    t.match(locks.stats(), { held: 4, deadlocks: 0, waits: 0 });
  });

t.test('a request queued behind an exclusive waiter waits for it: waiting for its owner in ' +
  'turn is a deadlock', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'reader', 'shared');
  locks.tryAcquire('msg:1', 'writer', 'exclusive');
  locks.tryAcquire('msg:2', 'late', 'exclusive');
  const writer = track(locks.acquire('queue:A', 'writer', 'exclusive'));
  const late = track(locks.acquire('queue:A', 'late', 'shared'));
  await t.rejects(locks.acquire('msg:2', 'writer', 'exclusive'), {
    code: 'E_DEADLOCK',
    message: 'a wait of owner writer for resource msg:2 in exclusive mode would deadlock: ' +
      'writer waits for late on msg:2, late waits for writer on queue:A',
  });
  locks.releaseOwner('reader');
  await flush();
  t.same(writer, granted);
  t.equal(late.settled, false);
  locks.releaseOwner('writer');
  await flush();
  t.same(late, granted);
});

t.test('a unit and its connection are distinct owners: they conflict and can deadlock',
  async (t) => {
    const locks = new LockManager();
    locks.adopt('unit:1', 'conn:1');
    locks.tryAcquire('queue:A', 'conn:1', 'exclusive');
    locks.tryAcquire('msg:1', 'unit:1', 'exclusive');
    t.equal(locks.tryAcquire('queue:A', 'unit:1', 'shared'), false, 'they conflict');
    const connection = track(locks.acquire('msg:1', 'conn:1', 'exclusive'));
    await t.rejects(locks.acquire('queue:A', 'unit:1', 'shared'), {
      code: 'E_DEADLOCK',
      message: 'a wait of owner unit:1 for resource queue:A in shared mode would deadlock: ' +
        'unit:1 waits for conn:1 on queue:A, conn:1 waits for unit:1 on msg:1',
    });
    t.equal(locks.releaseOwner('unit:1'), 1);
    await flush();
    t.same(connection, granted);
    t.equal(locks.releaseOwner('conn:1'), 2);
  });

// The model: the waits-for relation and the expected outcome of each request, computed from
// snapshots alone, independently of the lock manager's own bookkeeping.

interface Edge {
  owner: string;
  waitsFor: string;
  resource: string;
}

interface Queued {
  owner: string;
  mode: LockMode;
}

const compatible = (first: LockMode, second: LockMode) => first === 'shared' && second === 'shared';

function edgesOf(states: LockState[]): Edge[] {
  const edges: Edge[] = [];
  for (const { resource, holders, waiters } of states) {
    waiters.forEach((waiter: Queued, position) => {
      const blockers = [...holders, ...waiters.slice(0, position)];
      for (const blocker of blockers) {
        if (blocker.owner !== waiter.owner && !compatible(blocker.mode, waiter.mode)) {
          edges.push({ owner: waiter.owner, waitsFor: blocker.owner, resource });
        }
      }
    });
  }
  return edges;
}

/** Some cycle of the relation, as owners, or undefined when it has none. */
function cycleOf(edges: Edge[]): string[] | undefined {
  const next = new Map<string, string[]>();
  for (const edge of edges) next.set(edge.owner, [...(next.get(edge.owner) ?? []), edge.waitsFor]);
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const walk = (owner: string): string[] | undefined => {
    if (state.get(owner) === 'done') return undefined;
    if (state.get(owner) === 'open') return path.slice(path.indexOf(owner));
    state.set(owner, 'open');
    path.push(owner);
    for (const target of next.get(owner) ?? []) {
      const cycle = walk(target);
      if (cycle !== undefined) return cycle;
    }
    path.pop();
    state.set(owner, 'done');
    return undefined;
  };
  for (const owner of next.keys()) {
    const cycle = walk(owner);
    if (cycle !== undefined) return cycle;
  }
  return undefined;
}

/** Pending requests are keyed by owner and resource: an owner waits at most once per resource. */
const keyOf = (owner: string, resource: string) => `${owner}@${resource}`;

interface Pending {
  owner: string;
  resource: string;
  mode: LockMode;
  /** The owner held the resource (shared) when it asked: it queues ahead of other requests. */
  upgrade: boolean;
  tracked: Tracked;
}

type Expected =
  | { kind: 'granted' }
  | { kind: 'waits' | 'deadlock'; upgrade: boolean; edges: Edge[] };

function expectedOutcome(
  states: LockState[],
  pending: Map<string, Pending>,
  request: { owner: string; resource: string; mode: LockMode },
): Expected {
  const { owner, resource, mode } = request;
  const state = states.find((candidate) => candidate.resource === resource);
  if (state === undefined) return { kind: 'granted' };
  const held = state.holders.find((holder) => holder.owner === owner);
  if (held !== undefined && (held.mode === 'exclusive' || mode === 'shared')) {
    return { kind: 'granted' };
  }
  const conflict = state.holders.some((h) => h.owner !== owner && !compatible(h.mode, mode));
  const queued = held === undefined && state.waiters.some((w) => !compatible(w.mode, mode));
  if (!conflict && !queued) return { kind: 'granted' };
  const upgrade = held !== undefined;
  let position = state.waiters.length;
  if (upgrade) {
    const isUpgrade = (waiter: Queued) => pending.get(keyOf(waiter.owner, resource))?.upgrade;
    position = state.waiters.findIndex((waiter) => isUpgrade(waiter) !== true);
    if (position < 0) position = state.waiters.length;
  }
  const waiters = [...state.waiters];
  waiters.splice(position, 0, { owner, mode, waitingSinceMs: 0, timeoutMs: 0 });
  const tentative = states.map((other) => (other === state ? { ...state, waiters } : other));
  const edges = edgesOf(tentative);
  return { kind: cycleOf(edges) === undefined ? 'waits' : 'deadlock', upgrade, edges };
}

/** Thrown by a failed check of the random run, so that the run stops at its first failure. */
class Mismatch extends Error {}

function expect(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Mismatch(message);
}

const codeOf = (error: unknown) => (error instanceof SanmqError ? error.code : String(error));

/** A small seeded generator (mulberry32), so that a printed seed repeats a run. */
function generator(seed: number): (below: number) => number {
  let state = seed >>> 0;
  return (below) => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return Math.floor((((value ^ (value >>> 14)) >>> 0) / 4294967296) * below);
  };
}

/** Checks everything a snapshot must satisfy, and the pending requests against it. */
function checkState(locks: LockManager, pending: Map<string, Pending>): void {
  const states = locks.snapshot();
  let held = 0;
  const queued: string[] = [];
  for (const { resource, holders, waiters } of states) {
    held += holders.length;
    expect(holders.length > 0, `${resource} is listed with no holder`);
    expect(new Set(holders.map((h) => h.owner)).size === holders.length, `${resource}: twice`);
    expect(holders.length === 1 || holders.every((h) => h.mode === 'shared'),
      `${resource} has incompatible holders ${JSON.stringify(holders)}`);
    const head = waiters[0];
    expect(head === undefined ||
      holders.some((h) => h.owner !== head.owner && !compatible(h.mode, head.mode)),
    `the head waiter ${head?.owner} of ${resource} could have been granted`);
    for (const waiter of waiters) queued.push(`${waiter.owner} ${resource} ${waiter.mode}`);
  }
  const expected = [...pending.values()].map((p) => `${p.owner} ${p.resource} ${p.mode}`);
  expect(JSON.stringify(queued.sort()) === JSON.stringify(expected.sort()),
    `the queues ${JSON.stringify(queued)} are not the pending requests ` +
    JSON.stringify(expected));
  const cycle = cycleOf(edgesOf(states));
  expect(cycle === undefined, `an undetected cycle of waits: ${cycle?.join(' -> ')}`);
  const stats = locks.stats();
  expect(stats.held === held && stats.waiting === pending.size && stats.resources === states.length,
    `stats ${JSON.stringify(stats)} disagree with the snapshot`);
}

/** The random run: each step draws one operation, predicts its outcome and checks it. */
class RandomRun {
  readonly pending = new Map<string, Pending>();
  readonly parents = new Map<string, string>();
  readonly counts = { granted: 0, grantedAfterWait: 0, waits: 0, deadlocks: 0, timeouts: 0,
    closed: 0, released: 0, refused: 0, adopted: 0 };

  constructor(
    readonly locks: LockManager,
    readonly random: (below: number) => number,
    readonly owners: string[],
    readonly resources: string[],
  ) {}

  pick<T>(values: T[]): T {
    const value = values[this.random(values.length)];
    if (value === undefined) throw new Error('pick from an empty list');
    return value;
  }

  async step(): Promise<void> {
    const draw = this.random(100);
    const mode: LockMode = this.random(2) === 0 ? 'shared' : 'exclusive';
    const resource = this.pick(this.resources);
    const owner = this.pick(this.owners);
    // Owners may wait for several resources at once, but for each at most once.
    const idle = !this.pending.has(keyOf(owner, resource));
    if (draw < 45 && idle) await this.acquire(owner, resource, mode);
    else if (draw < 55) this.tryAcquire(owner, resource, mode);
    else if (draw < 85) this.release(this.pick(this.owners), resource);
    else if (draw < 93) await this.releaseOwner(this.pick(this.owners));
    else this.adopt(this.pick(this.owners), this.pick(this.owners));
    await flush();
    this.collectGrants();
  }

  async acquire(owner: string, resource: string, mode: LockMode): Promise<void> {
    const request = { owner, resource, mode };
    const expected = expectedOutcome(this.locks.snapshot(), this.pending, request);
    const noWait = this.random(10) === 0;
    const tracked = track(this.locks.acquire(resource, owner, mode,
      { timeoutMs: noWait ? 0 : 60_000 }));
    await flush();
    const what = `${owner} asking ${resource} ${mode}${noWait ? ' without waiting' : ''}`;
    if (expected.kind === 'granted') {
      expect(tracked.settled && tracked.error === undefined, `${what} was not granted at once`);
      this.counts.granted++;
    } else if (noWait) {
      expect(codeOf(tracked.error) === 'E_LOCK_TIMEOUT', `${what}: ${codeOf(tracked.error)}`);
      this.counts.timeouts++;
    } else if (expected.kind === 'deadlock') {
      expect(codeOf(tracked.error) === 'E_DEADLOCK', `${what} was no deadlock`);
      checkCycle(tracked.error as SanmqError, owner, expected.edges);
      this.counts.deadlocks++;
    } else {
      expect(!tracked.settled, `${what} should wait: ${codeOf(tracked.error)}`);
      this.pending.set(keyOf(owner, resource), { ...request, upgrade: expected.upgrade, tracked });
      this.counts.waits++;
    }
  }

  tryAcquire(owner: string, resource: string, mode: LockMode): void {
    const request = { owner, resource, mode };
    const expected = expectedOutcome(this.locks.snapshot(), this.pending, request);
    const result = this.locks.tryAcquire(resource, owner, mode);
    expect(result === (expected.kind === 'granted'),
      `tryAcquire ${owner} ${resource} ${mode} returned ${result}`);
  }

  release(owner: string, resource: string): void {
    const holds = this.locks.holders(resource).some((holder) => holder.owner === owner);
    expect(this.locks.release(resource, owner) === holds, `release ${owner} ${resource}`);
    if (holds) this.counts.released++;
  }

  async releaseOwner(owner: string): Promise<void> {
    const family = this.familyOf(owner);
    const states = this.locks.snapshot();
    const held = states.flatMap((state) => state.holders).filter((h) => family.has(h.owner));
    const released = this.locks.releaseOwner(owner);
    expect(released === held.length, `releaseOwner ${owner} released ${released}`);
    await flush();
    for (const [key, request] of this.pending) {
      if (!family.has(request.owner)) continue;
      const error = request.tracked.error;
      expect(codeOf(error) === 'E_CLOSED' && (error as Error).message ===
        `the lock owner ${request.owner} ended while waiting for ${request.resource}`,
      `the wait of ${key} ended ${codeOf(error)}`);
      this.pending.delete(key);
      this.counts.closed++;
    }
    for (const member of family) this.parents.delete(member);
    for (const member of family) expect(this.locks.heldBy(member).length === 0, `${member} holds`);
  }

  adopt(owner: string, parent: string): void {
    let valid = owner !== parent &&
      (this.parents.get(owner) === undefined || this.parents.get(owner) === parent);
    for (let above: string | undefined = parent; valid && above !== undefined;) {
      valid = above !== owner;
      above = this.parents.get(above);
    }
    let code: string | undefined;
    try {
      this.locks.adopt(owner, parent);
    } catch (error) {
      code = codeOf(error);
    }
    const expected = valid ? undefined : 'E_INVALID_ARGUMENT';
    expect(code === expected, `adopt ${owner} ${parent}: ${code}`);
    if (valid) this.parents.set(owner, parent);
    this.counts[valid ? 'adopted' : 'refused']++;
  }

  familyOf(owner: string): Set<string> {
    const family = new Set([owner]);
    // Each pass adds the children of the family so far; six owners need at most six passes.
    for (let pass = 0; pass < this.owners.length; pass++) {
      for (const [child, parent] of this.parents) if (family.has(parent)) family.add(child);
    }
    return family;
  }

  /** Waits that settled since the last step must have been granted, and be held now. */
  collectGrants(): void {
    for (const [key, request] of this.pending) {
      const owner = request.owner;
      if (!request.tracked.settled) continue;
      expect(request.tracked.error === undefined,
        `the wait of ${owner} for ${request.resource} ended ${codeOf(request.tracked.error)}`);
      const holder = this.locks.holders(request.resource).find((h) => h.owner === owner);
      expect(holder !== undefined && (holder.mode === 'exclusive' || request.mode === 'shared'),
        `${owner} was granted ${request.resource} ${request.mode} but holds ${holder?.mode}`);
      this.pending.delete(key);
      this.counts.grantedAfterWait++;
    }
  }

  /** Ends every owner: all waits are cancelled, all locks released, no timer is left. */
  async end(): Promise<void> {
    for (const owner of this.owners) {
      // Ending one owner may grant another's wait before that one ends in turn.
      this.collectGrants();
      await this.releaseOwner(owner);
    }
    expect(this.pending.size === 0, 'waits are left');
  }
}

/** The cycle an E_DEADLOCK names runs from the refused owner back to it through model edges. */
function checkCycle(error: SanmqError, owner: string, edges: Edge[]): void {
  const cycle = error.details['cycle'] as Edge[];
  expect(Array.isArray(cycle) && cycle.length > 0, 'the error names no cycle');
  cycle.forEach((edge, index) => {
    const next = cycle[(index + 1) % cycle.length];
    expect(edges.some((model) => model.owner === edge.owner && model.waitsFor === edge.waitsFor &&
      model.resource === edge.resource), `${JSON.stringify(edge)} is no edge of the model`);
    expect(next?.owner === edge.waitsFor, `the cycle breaks after ${JSON.stringify(edge)}`);
  });
  expect(cycle[0]?.owner === owner, `the cycle does not start at ${owner}`);
}

t.test('a seeded random run of 2000 steps among 6 owners and 5 resources keeps every ' +
  'invariant, and every outcome is the model\'s', async (t) => {
  const seed = Number(process.env['SANMQ_SEED'] ?? Date.now()) >>> 0;
  t.comment(`seed ${seed} (SANMQ_SEED=${seed} repeats this run)`);
  const random = generator(seed);
  const owners = ['o0', 'o1', 'o2', 'o3', 'o4', 'o5'];
  const resources = ['r0', 'r1', 'r2', 'r3', 'r4'];
  const run = new RandomRun(new LockManager(), random, owners, resources);
  const stepsMax = 2000;
  let step = 0;
  try {
    for (; step < stepsMax; step++) {
      await run.step();
      checkState(run.locks, run.pending);
    }
    await run.end();
  } catch (error) {
    if (!(error instanceof Mismatch)) throw error;
    t.fail(`step ${step} of seed ${seed}: ${error.message}`);
    // Ends every wait, so that no timer outlives the test.
    for (const owner of owners) run.locks.releaseOwner(owner);
    return;
  }
  t.equal(step, stepsMax, 'every step ran');
  t.same(run.locks.snapshot(), [], 'nothing is held or awaited at the end');
  t.comment(`outcomes: ${JSON.stringify(run.counts)}`);
  t.ok(run.counts.deadlocks > 0, 'some requests were refused as deadlocks');
  t.ok(run.counts.grantedAfterWait > 0, 'some waits were granted later');
  t.ok(run.counts.closed > 0, 'some waits were cancelled by releaseOwner');
  t.equal(run.locks.stats().deadlocks, run.counts.deadlocks);
});
