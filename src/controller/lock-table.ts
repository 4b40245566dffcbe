/**
 * The lock manager's tables and graph: the records it keeps per resource, waiter and owner,
 * the compatibility of modes and the holder sets, and the walks of the waits-for relation that
 * deadlock detection makes (locks.ts holds the manager that uses them).
 */
import { SanmqError } from '../errors.js';
import type { LockHolder, LockMode } from './locks.js';

/** Invariants of the lock manager: a failure is our bug, never an operating error. */
export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new SanmqError('E_INTERNAL', `lock manager invariant broken: ${message}`);
}

export interface Holder {
  readonly owner: string;
  mode: LockMode;
  readonly sinceMs: number;
}

export interface Waiter {
  readonly resource: Resource;
  readonly owner: string;
  readonly mode: LockMode;
  /** The owner held the resource shared when it asked for exclusive: it queues ahead. */
  readonly upgrade: boolean;
  readonly waitingSinceMs: number;
  readonly timeoutMs: number;
  timer: NodeJS.Timeout | undefined;
  readonly resolve: () => void;
  readonly reject: (error: SanmqError) => void;
}

/**
 * Most resources (one per message gotten under syncpoint) only ever have one holder and no
 * waiter, so that case costs two small objects: the map and the queue are made on demand.
 * Invariants: `holder` and `sharers` are never both set; `sharers` holds two or more shared
 * holders (it collapses back into `holder` at one); `waiters` is undefined or non-empty, and
 * its head conflicts with a holder (otherwise it would have been granted).
 */
export interface Resource {
  readonly name: string;
  holder: Holder | undefined;
  sharers: Map<string, Holder> | undefined;
  waiters: Waiter[] | undefined;
  exclusiveWaiters: number;
}

export interface Owner {
  readonly held: Set<Resource>;
  waits: Set<Waiter> | undefined;
  parent: string | undefined;
  children: Set<string> | undefined;
}

/** One edge of the waits-for relation: `owner` waits for `waitsFor` to release `resource`. */
export interface WaitEdge {
  readonly owner: string;
  readonly waitsFor: string;
  readonly resource: string;
}

/** Called for each owner a waiter waits for; returns true to stop the search. */
export type Visit = (owner: string, waitsFor: string, resource: string) => boolean;

/**
 * How much of a resource one deadlock search has already followed, so that every holder and
 * waiter is looked at a bounded number of times per search instead of once per waiter behind it.
 * The prefix [0, aheadAll) of the queue has had all its owners reached; [0, aheadExclusive)
 * its exclusive ones.
 */
export interface Scan {
  positions: Map<Waiter, number> | undefined;
  holdersAll: boolean;
  holdersExclusive: boolean;
  aheadAll: number;
  aheadExclusive: number;
}

export function compatible(first: LockMode, second: LockMode): boolean {
  return first === 'shared' && second === 'shared';
}

/** A lock held in `held` mode already grants a request for `wanted`. */
export function covers(held: LockMode, wanted: LockMode): boolean {
  return held === 'exclusive' || wanted === 'shared';
}

export function holderOf(resource: Resource, owner: string): Holder | undefined {
  const holder = resource.holder;
  if (holder !== undefined) return holder.owner === owner ? holder : undefined;
  return resource.sharers?.get(owner);
}

export function holdersOf(resource: Resource): Holder[] {
  if (resource.holder !== undefined) return [resource.holder];
  return resource.sharers === undefined ? [] : [...resource.sharers.values()];
}

/** Another owner holds the resource in a mode incompatible with `mode`. */
export function conflictsWithHolders(resource: Resource, owner: string, mode: LockMode): boolean {
  const holder = resource.holder;
  if (holder !== undefined) return holder.owner !== owner && !compatible(holder.mode, mode);
  // Two or more owners share it, so some other owner holds it shared.
  return resource.sharers !== undefined && mode === 'exclusive';
}

export function addHolder(resource: Resource, holder: Holder): void {
  const single = resource.holder;
  if (single === undefined && resource.sharers === undefined) {
    resource.holder = holder;
    return;
  }
  // Pairwise compatibility by construction: only shared holders ever share a resource.
  assert(holder.mode === 'shared', 'only shared holders share a resource');
  if (single !== undefined) {
    assert(single.mode === 'shared', 'an exclusive holder holds alone');
    resource.holder = undefined;
    resource.sharers = new Map([[single.owner, single], [holder.owner, holder]]);
  } else {
    assert(resource.sharers?.has(holder.owner) === false, 'an owner holds a resource once');
    resource.sharers.set(holder.owner, holder);
  }
}

export function removeHolder(resource: Resource, owner: string): boolean {
  if (resource.holder !== undefined) {
    if (resource.holder.owner !== owner) return false;
    resource.holder = undefined;
    return true;
  }
  const sharers = resource.sharers;
  if (sharers === undefined || !sharers.delete(owner)) return false;
  if (sharers.size === 1) {
    // Back to one holder, so that an upgrade by the last sharer sees itself alone.
    const [last] = sharers.values();
    resource.holder = last;
    resource.sharers = undefined;
  }
  return true;
}

export function copyHolder(holder: Holder): LockHolder {
  return { owner: holder.owner, mode: holder.mode, sinceMs: holder.sinceMs };
}

export function compareNames(first: string, second: string): number {
  return first < second ? -1 : first > second ? 1 : 0;
}

export function scanOf(scans: Map<Resource, Scan>, resource: Resource): Scan {
  let scan = scans.get(resource);
  if (scan === undefined) {
    scan = {
      positions: undefined, holdersAll: false, holdersExclusive: false, aheadAll: 0,
      aheadExclusive: 0,
    };
    scans.set(resource, scan);
  }
  return scan;
}

/**
 * Visits the owners `waiter` waits for. With a scan, skips the holders and the queue prefix
 * the search already followed for the same or a stronger mode: their owners are reached already.
 */
export function visitBlockers(waiter: Waiter, scan: Scan | undefined, visit: Visit): boolean {
  const { resource, owner } = waiter;
  const exclusive = waiter.mode === 'exclusive';
  const holdersDone =
    scan !== undefined && (scan.holdersAll || (!exclusive && scan.holdersExclusive));
  if (!holdersDone) {
    for (const holder of holdersOf(resource)) {
      if (!compatible(holder.mode, waiter.mode) && visit(owner, holder.owner, resource.name)) {
        return true;
      }
    }
    if (scan !== undefined && exclusive) scan.holdersAll = true;
    if (scan !== undefined) scan.holdersExclusive = true;
  }
  const queue = resource.waiters ?? [];
  let position: number;
  let start = 0;
  if (scan === undefined) {
    position = queue.indexOf(waiter);
  } else {
    scan.positions ??= new Map(queue.map((queued, index) => [queued, index]));
    position = scan.positions.get(waiter) ?? -1;
    start = exclusive ? scan.aheadAll : Math.max(scan.aheadAll, scan.aheadExclusive);
  }
  assert(position >= 0, 'a waiter is in the queue of its resource');
  for (let index = start; index < position; index++) {
    const ahead = queue[index];
    assert(ahead !== undefined, 'a queue has no holes');
    if (!compatible(ahead.mode, waiter.mode) && visit(owner, ahead.owner, resource.name)) {
      return true;
    }
  }
  if (scan !== undefined && exclusive) scan.aheadAll = Math.max(scan.aheadAll, position);
  if (scan !== undefined) scan.aheadExclusive = Math.max(scan.aheadExclusive, position);
  return false;
}

/** The cycle root -> ... -> closing.owner -> root, from the edges that first reached each owner. */
export function cyclePath(root: string, closing: WaitEdge, reached: Map<string, WaitEdge>): WaitEdge[] {
  const path = [closing];
  for (let owner = closing.owner; owner !== root;) {
    const edge = reached.get(owner);
    assert(edge !== undefined && path.length <= reached.size, `${owner} was reached from nowhere`);
    path.push(edge);
    owner = edge.owner;
  }
  return path.reverse();
}
