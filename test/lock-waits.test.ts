/**
 * Waiting for locks: timeouts (and what a timed-out request lets through), timeoutMs 0,
 * timers cleared on every ending of a wait, releaseOwner cancelling waits and releasing the
 * locks of an owner's descendants, and the waitersMax limit.
 */
import t from 'tap';

import { LockManager } from '../src/controller/locks.js';
import { SanmqError } from '../src/errors.js';
import { flush, track, granted } from './helpers/track.js';


/** Timers of the process: each waiting request has one, and none outlives its wait. */
const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

function codeOf(error: unknown): string | undefined {
  return error instanceof SanmqError ? error.code : undefined;
}

t.test('a wait times out with E_LOCK_TIMEOUT after about timeoutMs, naming the owner, the ' +
  'resource, the mode and the time waited', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'c1', 'exclusive');
  const startMs = Date.now();
  const error = await locks.acquire('queue:A', 'c2', 'shared', { timeoutMs: 100 }).then(
    () => undefined,
    (reason: unknown) => reason,
  );
  const elapsedMs = Date.now() - startMs;
  t.ok(elapsedMs >= 98 && elapsedMs < 1000, `it waited ${elapsedMs} ms`);
  t.equal(codeOf(error), 'E_LOCK_TIMEOUT');
  const match = /^owner c2 timed out after (\d+) ms waiting for resource queue:A in shared mode$/
    .exec((error as Error).message);
  t.ok(match, (error as Error).message);
  const waitedMs = Number(match?.[1]);
  t.ok(waitedMs >= 98 && waitedMs <= elapsedMs, `the message says ${waitedMs} ms`);
  t.same(locks.snapshot(), [{
    resource: 'queue:A', holders: locks.holders('queue:A'), waiters: [],
  }], 'the waiter is gone');
  t.match(locks.stats(), { waiting: 0, waits: 1, timeouts: 1 });
});

t.test('an exclusive waiter that times out lets the shared waiters behind it in', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'reader', 'shared');
  const writer = track(locks.acquire('queue:A', 'writer', 'exclusive', { timeoutMs: 50 }));
  const late = track(locks.acquire('queue:A', 'late', 'shared', { timeoutMs: 5000 }));
  await flush();
  t.equal(late.settled, false, 'the late reader waits behind the writer');
  await new Promise((resolve) => setTimeout(resolve, 120));
  t.equal(codeOf(writer.error), 'E_LOCK_TIMEOUT');
  t.same(late, granted, 'the late reader got in when the writer gave up');
  t.same(locks.holders('queue:A').map((holder) => holder.owner), ['reader', 'late']);
});

t.test('timeoutMs 0 rejects at once with E_LOCK_TIMEOUT when the lock is taken, and queues ' +
  'nothing', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('msg:1', 'u1', 'exclusive');
  const before = timers();
  const request = locks.acquire('msg:1', 'u2', 'exclusive', { timeoutMs: 0 });
  t.same(locks.snapshot()[0]?.waiters, [], 'nothing queued');
  t.equal(timers(), before, 'no timer');
  await t.rejects(request, {
    code: 'E_LOCK_TIMEOUT',
    message: 'owner u2 timed out after 0 ms waiting for resource msg:1 in exclusive mode',
  });
  t.match(locks.stats(), { waits: 0, timeouts: 1, waiting: 0 });
});

t.test('timeoutMs 0 is granted when the lock is free', async (t) => {
  const locks = new LockManager();
  await locks.acquire('msg:1', 'u1', 'shared', { timeoutMs: 0 });
  await locks.acquire('msg:1', 'u2', 'shared', { timeoutMs: 0 });
  t.same(locks.holders('msg:1').map((holder) => holder.owner), ['u1', 'u2']);
});

t.test('the timer of a wait is cleared when the wait is granted, cancelled or refused as a ' +
  'deadlock', async (t) => {
  const locks = new LockManager();
  const before = timers();
  locks.tryAcquire('r1', 'a', 'exclusive');
  locks.tryAcquire('r2', 'b', 'exclusive');
  const grantedLater = track(locks.acquire('r1', 'c', 'shared', { timeoutMs: 60_000 }));
  const cancelled = track(locks.acquire('r1', 'd', 'shared', { timeoutMs: 60_000 }));
  const waiting = track(locks.acquire('r2', 'a', 'exclusive', { timeoutMs: 60_000 }));
  t.equal(timers(), before + 3, 'one timer per waiting request');
  await t.rejects(locks.acquire('r1', 'b', 'exclusive', { timeoutMs: 60_000 }),
    { code: 'E_DEADLOCK' });
  t.equal(timers(), before + 3, 'a refused request leaves no timer');
  locks.releaseOwner('d');
  t.equal(timers(), before + 2, 'a cancelled wait clears its timer');
  locks.releaseOwner('b');
  t.equal(timers(), before + 1, 'a granted wait clears its timer');
  locks.release('r1', 'a');
  await flush();
  t.equal(timers(), before, 'no timer is left');
  t.same(grantedLater, granted);
  t.same(waiting, granted);
  t.equal(codeOf(cancelled.error), 'E_CLOSED');
});

t.test('releaseOwner rejects the waits of the owner with E_CLOSED', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'c1', 'exclusive');
  const request = locks.acquire('queue:A', 'u1', 'shared');
  t.equal(locks.releaseOwner('u1'), 0, 'it held nothing');
  await t.rejects(request, {
    code: 'E_CLOSED',
    message: 'the lock owner u1 ended while waiting for queue:A',
  });
  t.same(locks.snapshot()[0]?.waiters, []);
  t.match(locks.stats(), { waiting: 0, held: 1 });
});

t.test('releaseOwner of a connection releases the locks of its units, cancels their waits ' +
  'and grants the waiters behind them', async (t) => {
  const locks = new LockManager();
  locks.adopt('unit:1', 'conn:1');
  locks.adopt('unit:2', 'conn:1');
  locks.tryAcquire('queue:A', 'conn:1', 'shared');
  locks.tryAcquire('msg:1', 'unit:1', 'exclusive');
  locks.tryAcquire('msg:2', 'unit:2', 'exclusive');
  locks.tryAcquire('msg:3', 'other', 'exclusive');
  const unitWait = track(locks.acquire('msg:3', 'unit:2', 'exclusive'));
  const otherWaits = ['msg:1', 'msg:2', 'queue:A'].map((resource) =>
    track(locks.acquire(resource, `waiter:${resource}`, 'exclusive')));
  t.equal(locks.releaseOwner('conn:1'), 3, 'three locks released');
  await flush();
  t.equal(codeOf(unitWait.error), 'E_CLOSED', "the unit's wait is cancelled");
  t.equal((unitWait.error as Error).message,
    'the lock owner unit:2 ended while waiting for msg:3');
  for (const wait of otherWaits) t.same(wait, granted);
  for (const owner of ['conn:1', 'unit:1', 'unit:2']) t.same(locks.heldBy(owner), []);
  t.same(locks.holders('msg:3').map((holder) => holder.owner), ['other'], 'others keep theirs');
  t.match(locks.stats(), { held: 4, waiting: 0 });
});

t.test('releaseOwner of a queue manager ends its connections and their units', async (t) => {
  const locks = new LockManager();
  locks.adopt('conn:1', 'qm');
  locks.adopt('conn:2', 'qm');
  locks.adopt('unit:1', 'conn:1');
  locks.adopt('unit:2', 'conn:2');
  for (const owner of ['qm', 'conn:1', 'conn:2', 'unit:1', 'unit:2']) {
    locks.tryAcquire(`lock:${owner}`, owner, 'exclusive');
  }
  locks.tryAcquire('queue:A', 'conn:1', 'shared');
  locks.tryAcquire('queue:A', 'unit:2', 'shared');
  locks.tryAcquire('queue:A', 'outsider', 'shared');
  t.equal(locks.releaseOwner('qm'), 7);
  t.same(locks.snapshot().map((state) => [state.resource, state.holders.map((h) => h.owner)]),
    [['queue:A', ['outsider']]]);
});

t.test('releaseOwner of a unit leaves its connection and its sibling holding', async (t) => {
  const locks = new LockManager();
  locks.adopt('unit:1', 'conn:1');
  locks.adopt('unit:2', 'conn:1');
  locks.tryAcquire('msg:1', 'unit:1', 'exclusive');
  locks.tryAcquire('msg:2', 'unit:2', 'exclusive');
  locks.tryAcquire('queue:A', 'conn:1', 'exclusive');
  t.equal(locks.releaseOwner('unit:1'), 1);
  t.same(locks.heldBy('unit:2'), [{ resource: 'msg:2', mode: 'exclusive' }]);
  t.same(locks.heldBy('conn:1'), [{ resource: 'queue:A', mode: 'exclusive' }]);
  t.equal(locks.releaseOwner('conn:1'), 2, 'unit:2 is still its child');
  t.same(locks.snapshot(), []);
});

t.test('releaseOwner forgets the tree: an ended unit can be adopted again elsewhere',
  async (t) => {
    const locks = new LockManager();
    locks.adopt('unit:1', 'conn:1');
    t.equal(locks.releaseOwner('unit:1'), 0);
    locks.adopt('unit:1', 'conn:2');
    locks.tryAcquire('msg:1', 'unit:1', 'exclusive');
    t.equal(locks.releaseOwner('conn:1'), 0, 'conn:1 has no child any more');
    t.same(locks.heldBy('unit:1'), [{ resource: 'msg:1', mode: 'exclusive' }]);
    t.equal(locks.releaseOwner('conn:2'), 1, 'conn:2 is its parent now');
  });

t.test('releaseOwner of an unknown owner releases nothing', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('msg:1', 'u1', 'exclusive');
  t.equal(locks.releaseOwner('u2'), 0);
  t.equal(locks.stats().held, 1);
});

t.test('a wait beyond waitersMax is refused with E_BUSY until another wait ends', async (t) => {
  const locks = new LockManager({ waitersMax: 2 });
  locks.tryAcquire('queue:A', 'holder', 'exclusive');
  const first = track(locks.acquire('queue:A', 'w1', 'shared', { timeoutMs: 50 }));
  const second = track(locks.acquire('queue:A', 'w2', 'shared'));
  await t.rejects(locks.acquire('queue:A', 'w3', 'shared'), {
    code: 'E_BUSY',
    message: 'the lock manager holds 2 waits; at most 2 may wait',
  });
  t.equal(locks.tryAcquire('queue:C', 'w3', 'exclusive'), true, 'no wait, no limit');
  await new Promise((resolve) => setTimeout(resolve, 100));
  t.equal(codeOf(first.error), 'E_LOCK_TIMEOUT');
  const third = track(locks.acquire('queue:A', 'w3', 'shared'));
  t.equal(locks.stats().waiting, 2, 'the timed-out wait made room');
  locks.release('queue:A', 'holder');
  await flush();
  t.same(second, granted);
  t.same(third, granted);
});

t.test('waitersMax 0 refuses every wait and grants free locks', async (t) => {
  const locks = new LockManager({ waitersMax: 0 });
  await locks.acquire('msg:1', 'u1', 'exclusive');
  await t.rejects(locks.acquire('msg:1', 'u2', 'exclusive'), {
    code: 'E_BUSY',
    message: 'the lock manager holds 0 waits; at most 0 may wait',
  });
  await t.rejects(locks.acquire('msg:1', 'u2', 'exclusive', { timeoutMs: 0 }),
    { code: 'E_LOCK_TIMEOUT' }, 'timeoutMs 0 never waits, so it times out rather than busy');
});
