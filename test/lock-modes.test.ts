/**
 * Lock modes of the controller's lock manager: which requests share a resource and which
 * conflict, re-acquiring and upgrading, first come first served per resource, what holders,
 * heldBy, snapshot and stats report, that released resources are forgotten, and the exact
 * message of every refused argument.
 */
import t from 'tap';

import { LockManager, type LockMode } from '../src/controller/locks.js';
import { SanmqError, type ErrorCode } from '../src/errors.js';
import { flush, track } from './helpers/track.js';

/** Passes a deliberately wrong value through the type checker. */
const bad = (value: unknown) => value as never;


const compatibility: Array<[LockMode, LockMode, boolean]> = [
  ['shared', 'shared', true],
  ['shared', 'exclusive', false],
  ['exclusive', 'shared', false],
  ['exclusive', 'exclusive', false],
];
for (const [held, wanted, granted] of compatibility) {
  const article = wanted === 'exclusive' ? 'an' : 'a';
  t.test(`${article} ${wanted} request beside another owner's ${held} lock is ` +
    `${granted ? 'granted' : 'refused'}`, async (t) => {
    const locks = new LockManager();
    t.equal(locks.tryAcquire('queue:A', 'c1', held), true);
    t.equal(locks.tryAcquire('queue:A', 'c2', wanted), granted);
    const expected = [{ owner: 'c1', mode: held }];
    if (granted) expected.push({ owner: 'c2', mode: wanted });
    t.same(locks.holders('queue:A').map(({ owner, mode }) => ({ owner, mode })), expected);
  });
}

t.test('re-acquiring a held lock in the same or a weaker mode is granted at once, even with ' +
  'a waiter queued, and one release frees it', async (t) => {
  const locks = new LockManager();
  t.equal(locks.tryAcquire('msg:1', 'u1', 'exclusive'), true);
  const waiter = track(locks.acquire('msg:1', 'u2', 'shared'));
  t.equal(locks.tryAcquire('msg:1', 'u1', 'exclusive'), true);
  t.equal(locks.tryAcquire('msg:1', 'u1', 'shared'), true);
  await locks.acquire('msg:1', 'u1', 'shared', { timeoutMs: 0 });
  t.same(locks.heldBy('u1'), [{ resource: 'msg:1', mode: 'exclusive' }], 'still exclusive');
  t.equal(locks.stats().held, 1, 'one lock, not a count of four');
  t.equal(locks.release('msg:1', 'u1'), true);
  t.equal(locks.release('msg:1', 'u1'), false, 'the one release freed it');
  await flush();
  t.same(waiter, { settled: true, error: undefined }, 'the waiter got it');
});

t.test('an upgrade by the only holder is granted at once and keeps the time of the grant',
  async (t) => {
    const locks = new LockManager();
    locks.tryAcquire('queue:A', 'c1', 'shared');
    const [before] = locks.holders('queue:A');
    t.equal(locks.tryAcquire('queue:A', 'c1', 'exclusive'), true);
    t.same(locks.holders('queue:A'),
      [{ owner: 'c1', mode: 'exclusive', sinceMs: before?.sinceMs }]);
    t.equal(locks.tryAcquire('queue:A', 'c2', 'shared'), false, 'it excludes others now');
  });

t.test('an upgrade waits while another owner shares the resource and is granted when that ' +
  'owner releases', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'c1', 'shared');
  locks.tryAcquire('queue:A', 'c2', 'shared');
  t.equal(locks.tryAcquire('queue:A', 'c1', 'exclusive'), false);
  const upgrade = track(locks.acquire('queue:A', 'c1', 'exclusive'));
  await flush();
  t.equal(upgrade.settled, false, 'it waits');
  t.same(locks.heldBy('c1'), [{ resource: 'queue:A', mode: 'shared' }], 'still shared meanwhile');
  locks.release('queue:A', 'c2');
  await flush();
  t.same(upgrade, { settled: true, error: undefined });
  t.same(locks.holders('queue:A').map(({ owner, mode }) => ({ owner, mode })),
    [{ owner: 'c1', mode: 'exclusive' }]);
});

t.test('an upgrade queues ahead of an exclusive request that waited before it', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'c1', 'shared');
  locks.tryAcquire('queue:A', 'c2', 'shared');
  const writer = track(locks.acquire('queue:A', 'c3', 'exclusive'));
  const upgrade = track(locks.acquire('queue:A', 'c1', 'exclusive'));
  t.same(locks.snapshot()[0]?.waiters.map((waiter) => waiter.owner), ['c1', 'c3']);
  locks.release('queue:A', 'c2');
  await flush();
  t.same(upgrade, { settled: true, error: undefined }, 'the upgrade is granted first');
  t.equal(writer.settled, false, 'the exclusive request still waits');
  locks.release('queue:A', 'c1');
  await flush();
  t.same(writer, { settled: true, error: undefined });
});

t.test('a shared request does not overtake an exclusive request queued before it', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'reader', 'shared');
  const writer = track(locks.acquire('queue:A', 'writer', 'exclusive'));
  t.equal(locks.tryAcquire('queue:A', 'late', 'shared'), false, 'tryAcquire refuses it');
  const late = track(locks.acquire('queue:A', 'late', 'shared'));
  t.same(locks.snapshot()[0]?.waiters.map((waiter) => waiter.owner), ['writer', 'late']);
  locks.release('queue:A', 'reader');
  await flush();
  t.same(writer, { settled: true, error: undefined }, 'the writer goes first');
  t.equal(late.settled, false, 'the late reader waits for the writer');
  locks.release('queue:A', 'writer');
  await flush();
  t.same(late, { settled: true, error: undefined });
});

t.test('a release grants every shared waiter at the head of the queue, up to the next ' +
  'exclusive one', async (t) => {
  const locks = new LockManager();
  locks.tryAcquire('queue:A', 'writer', 'exclusive');
  const readers = ['r1', 'r2', 'r3'].map((owner) =>
    track(locks.acquire('queue:A', owner, 'shared')));
  const second = track(locks.acquire('queue:A', 'w2', 'exclusive'));
  const behind = track(locks.acquire('queue:A', 'r4', 'shared'));
  locks.release('queue:A', 'writer');
  await flush();
  for (const reader of readers) t.same(reader, { settled: true, error: undefined });
  t.equal(second.settled, false, 'the second writer waits');
  t.equal(behind.settled, false, 'the reader behind it waits');
  t.same(locks.holders('queue:A').map((holder) => holder.owner), ['r1', 'r2', 'r3']);
  t.same(locks.snapshot()[0]?.waiters.map((waiter) => waiter.owner), ['w2', 'r4']);
  for (const owner of ['r1', 'r2', 'r3', 'w2']) locks.releaseOwner(owner);
  await flush();
  t.same(behind, { settled: true, error: undefined }, 'the last waiter got it in the end');
  t.equal(locks.stats().waiting, 0, 'no wait (and no timer) is left');
});

t.test('release returns false and changes nothing when the owner holds nothing there',
  async (t) => {
    const locks = new LockManager();
    locks.tryAcquire('msg:1', 'u1', 'exclusive');
    const before = locks.snapshot();
    t.equal(locks.release('msg:1', 'u2'), false, 'held by another owner');
    t.equal(locks.release('msg:2', 'u1'), false, 'an unknown resource');
    t.same(locks.snapshot(), before);
  });

t.test('holders, heldBy, snapshot and stats report the locks held and awaited', async (t) => {
  const locks = new LockManager();
  const startMs = Date.now();
  locks.tryAcquire('queue:B', 'c1', 'shared');
  locks.tryAcquire('queue:B', 'c2', 'shared');
  locks.tryAcquire('msg:7', 'c1', 'exclusive');
  const waiting = locks.acquire('queue:B', 'c3', 'exclusive', { timeoutMs: 5000 });
  const endMs = Date.now();
  const holders = locks.holders('queue:B');
  t.same(holders.map(({ owner, mode }) => ({ owner, mode })),
    [{ owner: 'c1', mode: 'shared' }, { owner: 'c2', mode: 'shared' }]);
  for (const holder of holders) t.ok(holder.sinceMs >= startMs && holder.sinceMs <= endMs);
  t.same(locks.holders('queue:none'), []);
  t.same(locks.heldBy('c1'), [
    { resource: 'msg:7', mode: 'exclusive' },
    { resource: 'queue:B', mode: 'shared' },
  ], 'sorted by resource');
  t.same(locks.heldBy('c3'), [], 'a waiter holds nothing');
  const snapshot = locks.snapshot();
  t.same(snapshot.map((state) => state.resource), ['msg:7', 'queue:B'], 'sorted by resource');
  const [waiter] = snapshot[1]?.waiters ?? [];
  t.same({ ...waiter, waitingSinceMs: 0 },
    { owner: 'c3', mode: 'exclusive', waitingSinceMs: 0, timeoutMs: 5000 });
  t.ok(waiter !== undefined && waiter.waitingSinceMs >= startMs && waiter.waitingSinceMs <= endMs);
  t.same(locks.stats(),
    { resources: 2, held: 3, waiting: 1, granted: 3, waits: 1, timeouts: 0, deadlocks: 0 });
  locks.releaseOwner('c1');
  locks.releaseOwner('c2');
  await waiting;
  t.same(locks.stats(),
    { resources: 1, held: 1, waiting: 0, granted: 4, waits: 1, timeouts: 0, deadlocks: 0 });
  for (const holder of holders) holder.mode = 'exclusive';
  t.same(locks.heldBy('c3'), [{ resource: 'queue:B', mode: 'exclusive' }]);
  t.same(locks.holders('queue:B').map((holder) => holder.owner), ['c3'], 'reports are copies');
});

t.test('released resources are forgotten: 10000 message locks leave none behind', async (t) => {
  const locks = new LockManager();
  let refused = 0;
  for (let n = 0; n < 10_000; n++) {
    if (!locks.tryAcquire(`msg:${n}`, `unit:${n % 7}`, 'exclusive')) refused++;
    // Each message is released one or two gets later, as a unit commits.
    if (n % 2 === 1) {
      locks.release(`msg:${n - 1}`, `unit:${(n - 1) % 7}`);
      locks.release(`msg:${n}`, `unit:${n % 7}`);
    }
  }
  t.equal(refused, 0, 'every message was free');
  const contended = locks.acquire('msg:x', 'unit:0', 'exclusive');
  await contended;
  const waiter = locks.acquire('msg:x', 'unit:1', 'shared');
  locks.release('msg:x', 'unit:0');
  await waiter;
  locks.release('msg:x', 'unit:1');
  t.same(locks.snapshot(), []);
  t.equal(locks.stats().resources, 0);
  t.equal(locks.stats().held, 0);
  t.equal(locks.stats().granted, 10_002);
  for (let owner = 0; owner < 7; owner++) t.same(locks.heldBy(`unit:${owner}`), []);
});

interface Case {
  /** What is wrong, as it reads in the test's name. */
  name: string;
  call: () => unknown;
  message: string;
  code?: ErrorCode;
}

/** One test per case: the call fails the expected way (`kind`) with the exact message. */
function check(where: string, kind: 'threw' | 'rejected', cases: Case[]): void {
  for (const c of cases) {
    const code = c.code ?? 'E_INVALID_ARGUMENT';
    const verb = kind === 'threw' ? 'throws' : 'rejects';
    t.test(`${where} with ${c.name} ${verb} ${code} "${c.message}"`, async (t) => {
      let outcome: 'threw' | 'rejected' | 'succeeded' = 'succeeded';
      let error: unknown;
      try {
        const value = c.call();
        if (value instanceof Promise) {
          outcome = 'rejected';
          await value.then(() => (outcome = 'succeeded'), (reason: unknown) => (error = reason));
        }
      } catch (thrown) {
        outcome = 'threw';
        error = thrown;
      }
      t.equal(outcome, kind, `${where} ${verb}`);
      t.ok(error instanceof SanmqError, 'the error is a SanmqError');
      t.equal((error as SanmqError | undefined)?.code, code);
      t.equal((error as SanmqError | undefined)?.message, c.message);
    });
  }
}

const locks = new LockManager();
const long = 'x'.repeat(257);
const names = (what: string) => [
  { label: 'an empty string', value: '' },
  { label: 'a string of 257 characters', value: long },
  { label: 'a number', value: 42 },
  { label: 'undefined', value: undefined },
].map(({ label, value }) => ({
  what,
  label,
  value: bad(value),
  message: `${what} must be a non-empty string of at most 256 characters`,
}));
const modeMessage = 'mode must be one of shared, exclusive';
const timeoutMessage = 'options.timeoutMs must be an integer from 0 to 86400000';

check('tryAcquire', 'threw', [
  ...names('resource').map(({ label, value, message }) => ({
    name: `resource ${label}`, call: () => locks.tryAcquire(value, 'u1', 'shared'), message,
  })),
  ...names('owner').map(({ label, value, message }) => ({
    name: `owner ${label}`, call: () => locks.tryAcquire('msg:1', value, 'shared'), message,
  })),
  ...['read', 'SHARED', undefined].map((mode) => ({
    name: `mode ${JSON.stringify(mode) ?? 'undefined'}`,
    call: () => locks.tryAcquire('msg:1', 'u1', bad(mode)),
    message: modeMessage,
  })),
]);

check('acquire', 'rejected', [
  ...names('resource').map(({ label, value, message }) => ({
    name: `resource ${label}`, call: () => locks.acquire(value, 'u1', 'shared'), message,
  })),
  ...names('owner').map(({ label, value, message }) => ({
    name: `owner ${label}`, call: () => locks.acquire('msg:1', value, 'shared'), message,
  })),
  {
    name: 'mode "update"',
    call: () => locks.acquire('msg:1', 'u1', bad('update')),
    message: modeMessage,
  },
  {
    name: 'options null',
    call: () => locks.acquire('msg:1', 'u1', 'shared', bad(null)),
    message: 'options must be an object',
  },
  {
    name: 'options a number',
    call: () => locks.acquire('msg:1', 'u1', 'shared', bad(100)),
    message: 'options must be an object',
  },
  {
    name: 'an unknown option',
    call: () => locks.acquire('msg:1', 'u1', 'shared', bad({ waitMs: 100 })),
    message: 'options.waitMs is not an option of acquire',
  },
  ...[-1, 86_400_001, 1.5, '100', Number.NaN, null].map((value) => ({
    name: `timeoutMs ${String(value)}`,
    call: () => locks.acquire('msg:1', 'u1', 'shared', { timeoutMs: bad(value) }),
    message: timeoutMessage,
  })),
]);

check('release', 'threw', [
  ...names('resource').map(({ label, value, message }) => ({
    name: `resource ${label}`, call: () => locks.release(value, 'u1'), message,
  })),
  ...names('owner').map(({ label, value, message }) => ({
    name: `owner ${label}`, call: () => locks.release('msg:1', value), message,
  })),
]);

check('holders', 'threw', names('resource').map(({ label, value, message }) => ({
  name: `resource ${label}`, call: () => locks.holders(value), message,
})));

check('heldBy', 'threw', names('owner').map(({ label, value, message }) => ({
  name: `owner ${label}`, call: () => locks.heldBy(value), message,
})));

check('releaseOwner', 'threw', names('owner').map(({ label, value, message }) => ({
  name: `owner ${label}`, call: () => locks.releaseOwner(value), message,
})));

const family = new LockManager();
family.adopt('unit', 'connection');
family.adopt('connection', 'qm');
check('adopt', 'threw', [
  ...names('owner').map(({ label, value, message }) => ({
    name: `owner ${label}`, call: () => family.adopt(value, 'qm'), message,
  })),
  ...names('parent').map(({ label, value, message }) => ({
    name: `parent ${label}`, call: () => family.adopt('unit', value), message,
  })),
  {
    name: 'an owner as its own parent',
    call: () => family.adopt('qm', 'qm'),
    message: 'owner qm cannot adopt itself',
  },
  {
    name: 'a second parent',
    call: () => family.adopt('unit', 'other'),
    message: 'owner unit is already a child of connection',
  },
  {
    name: 'its own descendant as parent',
    call: () => family.adopt('qm', 'unit'),
    message: 'owner qm cannot adopt unit: unit descends from qm',
  },
]);

check('new LockManager', 'threw', [
  {
    name: 'options null',
    call: () => new LockManager(bad(null)),
    message: 'options must be an object',
  },
  {
    name: 'an unknown option',
    call: () => new LockManager(bad({ waitsMax: 1 })),
    message: 'options.waitsMax is not an option of LockManager',
  },
  ...[-1, 10_000_001, 2.5, '10'].map((value) => ({
    name: `waitersMax ${JSON.stringify(value)}`,
    call: () => new LockManager({ waitersMax: bad(value) }),
    message: 'options.waitersMax must be an integer from 0 to 10000000',
  })),
]);

t.test('names of exactly 256 characters are accepted and every refusal changed nothing',
  async (t) => {
    t.same(locks.snapshot(), [], 'the refused requests left no trace');
    t.same(locks.stats().granted, 0);
    const name = 'q'.repeat(256);
    t.equal(locks.tryAcquire(name, name, 'exclusive'), true);
    t.same(locks.heldBy(name), [{ resource: name, mode: 'exclusive' }]);
    t.same(family.heldBy('unit'), [], 'a refused adoption changed nothing');
    t.equal(family.releaseOwner('qm'), 0);
    // After releaseOwner the tree is forgotten and can be rebuilt the other way round: the
    // former child now ends the former parent's locks with its own.
    family.adopt('qm', 'unit');
    t.equal(family.tryAcquire('rebuilt', 'qm', 'exclusive'), true);
    t.equal(family.releaseOwner('unit'), 1, 'ending unit released the lock its child qm held');
    t.same(family.holders('rebuilt'), []);
  });
