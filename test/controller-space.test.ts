/**
 * The controller's space reclamation: the space of consumed and expired messages comes back
 * (segments freed once their records are released, compaction driven by the controller when
 * free segments run short), so a LUN carries far more traffic than its size; E_LUN_FULL comes
 * only when live messages really fill it, and puts succeed again once consumers drain it;
 * messages stay readable when compaction moves them, and units of work that hold gets, spilled
 * puts or a prepared record across a compaction end correctly.
 */
import { join } from 'node:path';

import t from 'tap';

import {
  Controller,
  crc32c,
  SanmqError,
  type FormatOptions,
  type Message,
  type MountOptions,
  type Session,
} from '../src/index.js';
import { NO_ADDRESS } from '../src/controller/message-index.js';
import { waitFor } from './helpers/log.js';
import { testDir, type TestDir } from './helpers/lun.js';

const KIB = 1024;
const MIB = 1024 * KIB;
/** A LUN of 12 segments of 1 MiB: quick to fill, and to reclaim. */
const SMALL_LUN: FormatOptions = { sizeBytes: 16 * MIB, segmentBytes: MIB };
const QUEUE_ATTRIBUTES = { defaultPersistent: true, maxDepth: 999_999_999,
  maxMessageLength: 256 * KIB };

let counter = 0;

/** Mounts a controller on a new LUN in the test's directory, unmounted at teardown. */
async function mountNew(t: TestDir & { teardown(callback: () => unknown): void },
  create: FormatOptions, options: Omit<MountOptions, 'create'> = {}) {
  const path = join(testDir(t), `space-${process.pid}-${counter++}.lun`);
  const mounted = {
    controller: await Controller.mount(path, { ...options, create }),
    async remount(): Promise<Controller> {
      await mounted.controller.unmount();
      mounted.controller = await Controller.mount(path, options);
      return mounted.controller;
    },
  };
  t.teardown(() => (mounted.controller.mounted ? mounted.controller.unmount() : undefined));
  return mounted;
}

/** Bytes that bodies are cut from (a body is a window of it, chosen by its id). */
const POOL = Buffer.alloc(4 * MIB);
for (let i = 0; i < POOL.length; i++) POOL[i] = Math.imul(i, 2654435761) >>> 24;

/** The body of message `id`: `bytes` long, its id in the first four bytes. */
function bodyOf(id: number, bytes: number): Buffer {
  const start = (id * 7919) % (POOL.length - bytes);
  const body = Buffer.from(POOL.subarray(start, start + bytes));
  body.writeUInt32LE(id, 0);
  return body;
}

/** The correlation id of message `id`: a get can ask for exactly this message. */
function correlationOf(id: number): Buffer {
  const correlationId = Buffer.alloc(24);
  correlationId.writeUInt32LE(id, 0);
  correlationId.write('space', 8);
  return correlationId;
}

/** The id a gotten message carries, after checking its body and correlation id against it. */
function idOf(message: Message, bytes: number): number {
  const id = message.body.readUInt32LE(0);
  if (message.body.length !== bytes || !message.body.equals(bodyOf(id, bytes)) ||
    !message.correlationId.equals(correlationOf(id))) {
    throw new Error(`message ${id} came back with another body or correlation id ` +
      `(crc32c ${crc32c(message.body)}, expected ${crc32c(bodyOf(id, bytes))})`);
  }
  return id;
}

function put(session: Session, queue: string, id: number, bytes: number,
  options: { syncpoint?: boolean; expiry?: number; priority?: number } = {}) {
  const { syncpoint, ...message } = options;
  return session.put(queue, { body: bodyOf(id, bytes), correlationId: correlationOf(id),
    ...message }, syncpoint === undefined ? {} : { syncpoint });
}

function codeOf(error: unknown): string {
  return error instanceof SanmqError ? error.code : String(error);
}

/** Puts messages `firstId`, `firstId + 1`, … until a put fails; returns the ids put. */
async function putUntilRejected(session: Session, queue: string, firstId: number,
  bytes: number, limit: number): Promise<{ ids: number[]; error: unknown }> {
  const ids: number[] = [];
  for (let id = firstId; ids.length < limit; id++) {
    try {
      await put(session, queue, id, bytes);
    } catch (error) {
      return { ids, error };
    }
    ids.push(id);
  }
  return { ids, error: undefined };
}

/** Gets every message of a queue (at most `limit`) and returns their ids, checked. */
async function drainIds(session: Session, queue: string, bytes: number, limit: number):
Promise<Array<{ id: number; backoutCount: number }>> {
  const gotten: Array<{ id: number; backoutCount: number }> = [];
  while (gotten.length < limit) {
    let message: Message;
    try {
      message = await session.get(queue);
    } catch (error) {
      if (codeOf(error) === 'E_NO_MSG') break;
      throw error;
    }
    gotten.push({ id: idOf(message, bytes), backoutCount: message.backoutCount });
  }
  return gotten;
}

function sorted(ids: Iterable<number>): number[] {
  return [...ids].sort((a, b) => a - b);
}

t.test('a 64 MiB LUN carries 2 GiB of put/get traffic without E_LUN_FULL', async (t) => {
  const MESSAGE_BYTES = 64 * KIB;
  const MESSAGES = (2 * 1024 * MIB) / MESSAGE_BYTES;
  /** Concurrent sessions, so that their puts and gets share flushes (group commit). */
  const SESSIONS = 16;
  /** The backlog of TRAFFIC rises to 18 MiB and falls to none, every 64 MiB of puts. */
  const BACKLOG_MAX = (18 * MIB) / MESSAGE_BYTES;
  const PERIOD = (64 * MIB) / MESSAGE_BYTES;
  /**
   * One message in 16 goes to LINGER, which is consumed only once it holds 96 (6 MiB): those
   * messages outlive more than a LUN's worth of traffic, so every segment keeps a few live
   * records and none is freed unless compaction moves them out.
   */
  const LINGER_EVERY = 16;
  const LINGER_DEPTH = 96;
  // A cache smaller than the backlog: most gets read their record from the LUN, some of them
  // just after compaction moved it.
  const { controller } = await mountNew(t, { sizeBytes: 64 * MIB }, { cacheBytes: 4 * MIB });
  for (const name of ['TRAFFIC', 'LINGER']) await controller.defineQueue(name, QUEUE_ATTRIBUTES);
  const target = (id: number) => {
    const phase = (id % PERIOD) / PERIOD;
    return Math.round(BACKLOG_MAX * (phase < 0.5 ? 2 * phase : 2 - 2 * phase));
  };
  let seed = 1;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let nextId = 0;
  /** Puts to TRAFFIC started, less gets from it started (that are still to find a message). */
  let trafficQueued = 0;
  let lingerQueued = 0;
  let queuedMax = 0;
  /** Ids on TRAFFIC that are committed and that no targeted get has asked for yet. */
  const available: number[] = [];
  const placeOf = new Map<number, number>();
  const takeAvailable = (id: number) => {
    const at = placeOf.get(id);
    if (at === undefined) return;
    const last = available.pop() as number;
    placeOf.delete(id);
    if (last !== id) {
      available[at] = last;
      placeOf.set(last, at);
    }
  };
  const gotten = new Uint8Array(MESSAGES);
  let gets = 0;
  let misses = 0;
  let failure: unknown;
  const took = (message: Message) => {
    const id = idOf(message, MESSAGE_BYTES);
    gotten[id] = (gotten[id] as number) + 1;
    takeAvailable(id);
    gets++;
  };
  const putNext = async (session: Session) => {
    const id = nextId++;
    const linger = id % LINGER_EVERY === LINGER_EVERY - 1;
    if (linger) lingerQueued++;
    else trafficQueued++;
    queuedMax = Math.max(queuedMax, trafficQueued + lingerQueued);
    await put(session, linger ? 'LINGER' : 'TRAFFIC', id, MESSAGE_BYTES,
      { priority: Math.floor(random() * 10) });
    if (linger) return;
    placeOf.set(id, available.length);
    available.push(id);
  };
  /** Three gets in four take the first message by priority; one asks for a random one. */
  const getTraffic = async (session: Session) => {
    trafficQueued--;
    if (available.length === 0 || random() >= 0.25) {
      took(await session.get('TRAFFIC', { waitMs: 10_000 }));
      return;
    }
    const id = available[Math.floor(random() * available.length)] as number;
    takeAvailable(id);
    try {
      took(await session.get('TRAFFIC', { correlationId: correlationOf(id) }));
    } catch (error) {
      // A general get claimed it first (and may still be completing): it is counted there.
      if (codeOf(error) !== 'E_NO_MSG') throw error;
      trafficQueued++;
      misses++;
    }
  };
  const worker = async (session: Session) => {
    while (failure === undefined) {
      if (lingerQueued > LINGER_DEPTH || (nextId >= MESSAGES && lingerQueued > 0)) {
        lingerQueued--;
        took(await session.get('LINGER', { waitMs: 10_000 }));
      } else if (nextId < MESSAGES && (trafficQueued < target(nextId) || trafficQueued === 0)) {
        await putNext(session);
      } else if (trafficQueued > 0) {
        await getTraffic(session);
      } else {
        return;
      }
    }
  };

  const started = performance.now();
  const sessions = Array.from({ length: SESSIONS }, () => controller.session());
  await Promise.all(sessions.map((session) => worker(session).catch((error: unknown) => {
    failure ??= error;
  })));
  const seconds = (performance.now() - started) / 1000;
  t.equal(failure, undefined, 'no put or get failed');
  t.equal(gets, MESSAGES, 'as many gets as puts');
  t.equal(gotten.filter((count) => count !== 1).length, 0, 'every message gotten exactly once');
  t.ok(queuedMax * MESSAGE_BYTES >= 20 * MIB, `the backlog reached ${queuedMax} messages`);
  const stats = controller.stats();
  t.ok(stats.store.compactions > 0, 'the controller compacted');
  t.equal(stats.messages, 0, 'nothing is left queued');
  const megabytes = (nextId * MESSAGE_BYTES) / MIB;
  t.comment(`${megabytes} MiB put and gotten in ${seconds.toFixed(1)} s ` +
    `(${(megabytes / seconds).toFixed(0)} MiB/s of puts, as much of gets); ` +
    `${stats.store.compactions} segments compacted, ${stats.store.movedRecords} records moved ` +
    `(${((stats.store.movedRecords * MESSAGE_BYTES) / MIB).toFixed(0)} MiB); ` +
    `${controller.lun.stats().syncs} flushes; ${misses} targeted gets found their message taken`);
});

t.test('E_LUN_FULL comes only when live data fills the LUN, and puts succeed again after a ' +
  'drain', async (t) => {
  const MESSAGE_BYTES = 16 * KIB;
  const mounted = await mountNew(t, SMALL_LUN);
  const controller = mounted.controller;
  await controller.defineQueue('Q', QUEUE_ATTRIBUTES);
  const session = controller.session();
  const limit = 1024;
  const dataBytes = () => {
    const space = controller.lun.space();
    // The catalog keeps one segment, and data appends leave the reserve to releases.
    return (space.segmentCount - space.reservedSegments - 1) * space.segmentBytes;
  };

  const filled = await putUntilRejected(session, 'Q', 0, MESSAGE_BYTES, limit);
  t.equal(codeOf(filled.error), 'E_LUN_FULL', 'puts end with E_LUN_FULL');
  const full = controller.lun.space().liveBytes;
  t.ok(full > 0.7 * dataBytes(), `live bytes (${full}) fill most of the data segments ` +
    `(${dataBytes()})`);
  t.equal(controller.queue('Q').depth, filled.ids.length, 'the rejected put left nothing');

  // Every other message, by correlation id: every segment keeps half of its records.
  const drained = filled.ids.filter((id) => id % 2 === 1);
  for (const id of drained) {
    idOf(await session.get('Q', { correlationId: correlationOf(id) }), MESSAGE_BYTES);
  }
  t.ok(controller.lun.space().liveBytes < 0.6 * full, 'the gets released their records');
  const refilled = await putUntilRejected(session, 'Q', filled.ids.length, MESSAGE_BYTES,
    limit);
  t.equal(codeOf(refilled.error), 'E_LUN_FULL', 'puts fill the LUN again');
  // Compaction runs beside the puts: on a loaded machine the LUN may report full a little
  // before compaction has won back the last of the space (once: 90 % of the first fill).
  const held = filled.ids.length - drained.length + refilled.ids.length;
  t.ok(held >= 0.85 * filled.ids.length, `puts took back the space (${refilled.ids.length} ` +
    `messages after ${drained.length} were gotten: ${held} held, ${filled.ids.length} at first)`);
  t.ok(controller.stats().store.compactions > 0, 'the half-empty segments were compacted');
  t.ok(controller.lun.space().liveBytes > 0.7 * dataBytes(), 'live data fills the LUN again');

  const remounted = await mounted.remount();
  const expected = [...filled.ids.filter((id) => id % 2 === 0), ...refilled.ids];
  t.equal(remounted.mountReport.messages, expected.length, 'the remount finds every message');
  t.equal(remounted.queue('Q').depth, expected.length, 'and its queue holds them');
  const remaining = await drainIds(remounted.session(), 'Q', MESSAGE_BYTES, limit);
  t.same(sorted(remaining.map(({ id }) => id)), sorted(expected),
    'they are the messages put and not gotten, with their bodies');
});

t.test("expired messages' space is reclaimed", async (t) => {
  const MESSAGE_BYTES = 16 * KIB;
  /** Each wave fills about half the LUN; four of them put more than its size. */
  const WAVE = 400;
  const { controller } = await mountNew(t, SMALL_LUN, { expiryIntervalMs: 50 });
  await controller.defineQueue('Q', QUEUE_ATTRIBUTES);
  const sessions = Array.from({ length: 4 }, () => controller.session());
  await put(sessions[0] as Session, 'Q', 1_000_000, MESSAGE_BYTES);
  const before = controller.lun.space();
  for (let wave = 0; wave < 4; wave++) {
    await Promise.all(sessions.map(async (session, k) => {
      for (let i = k; i < WAVE; i += sessions.length) {
        await put(session, 'Q', wave * WAVE + i, MESSAGE_BYTES, { expiry: 15 });
      }
    }));
    // Half of it at least: the first messages may expire before the last are put.
    const live = controller.lun.space().liveBytes;
    t.ok(live > before.liveBytes + (WAVE * MESSAGE_BYTES) / 2, `wave ${wave} is on the LUN`);
    const expired = (wave + 1) * WAVE;
    t.ok(await waitFor(() => controller.stats().expired === expired, 10_000),
      `wave ${wave} expired`);
    const after = controller.lun.space();
    t.ok(after.liveBytes <= before.liveBytes, `its space is released (${after.liveBytes} ` +
      `live bytes, ${before.liveBytes} before the first wave)`);
  }
  t.ok(await waitFor(() => controller.lun.space().freeSegments >= before.freeSegments - 1,
    10_000), 'the segments the waves used are free again');
  t.equal(controller.queue('Q').depth, 1, 'the message without expiry stays');
});

t.test('messages stay readable across compaction moves, and units holding gets across a ' +
  'compaction commit correctly', async (t) => {
  const MESSAGE_BYTES = 16 * KIB;
  // Without a cache every get and browse reads its record from the LUN. The LUN is large
  // enough that free space starts no compaction: the test's own moves every sparse segment.
  const mounted = await mountNew(t, { sizeBytes: 64 * MIB, segmentBytes: MIB },
    { cacheBytes: 0 });
  const controller = mounted.controller;
  await controller.defineQueue('Q', QUEUE_ATTRIBUTES);
  const feeder = controller.session();
  for (let id = 0; id < 120; id++) await put(feeder, 'Q', id, MESSAGE_BYTES);
  const commits = controller.session();
  const backouts = controller.session();
  const prepared = controller.session();
  const spills = controller.session();
  for (let i = 0; i < 10; i++) await commits.get('Q', { syncpoint: true });
  for (let i = 0; i < 10; i++) await backouts.get('Q', { syncpoint: true });
  for (let i = 0; i < 5; i++) await prepared.get('Q', { syncpoint: true });
  await put(prepared, 'Q', 1000, MESSAGE_BYTES, { syncpoint: true });
  await prepared.prepare('space-xid');
  // More than half an append's worth: the unit writes these puts to the LUN before it commits.
  for (let id = 2000; id < 2040; id++) {
    await put(spills, 'Q', id, MESSAGE_BYTES, { syncpoint: true });
  }
  for (let id = 120; id < 300; id++) await put(feeder, 'Q', id, MESSAGE_BYTES);
  // Three of every four remaining messages go: the older segments are mostly dead.
  for (let id = 25; id < 300; id++) {
    if (id % 4 !== 0) {
      idOf(await feeder.get('Q', { correlationId: correlationOf(id) }), MESSAGE_BYTES);
    }
  }

  const index = controller.queues.store.index;
  const held = () => controller.syncpoint.units().flatMap((unit) => [
    ...unit.gets.map((get) => index.address[get.slot] as number),
    ...unit.puts.map((put) => put.address),
    unit.preparedAddress,
  ]).filter((address) => address !== NO_ADDRESS);
  const before = held();
  const spilled = controller.syncpoint.units().flatMap((unit) => unit.puts)
    .filter((put) => put.address !== NO_ADDRESS).length;
  t.ok(spilled > 1, `the prepared unit's put and ${spilled - 1} of the large unit's puts are ` +
    'on the LUN');
  t.equal(before.length, 10 + 10 + 5 + 1 + spilled,
    'the units hold records on the LUN: their gets, the prepared record and the spilled puts');
  t.equal(controller.stats().store.movedRecords, 0, 'nothing was moved before');
  await controller.compact(0.9);
  t.ok(controller.stats().store.movedRecords > 0, 'compaction moved records');
  const after = new Set(held());
  t.equal(before.filter((address) => after.has(address)).length, 0,
    'every record the units hold was moved, and the units know the new addresses');

  const browsed: number[] = [];
  const cursor = controller.session().browse('Q');
  for (;;) {
    try {
      browsed.push(idOf(await (browsed.length === 0 ? cursor.first() : cursor.next()),
        MESSAGE_BYTES));
    } catch (error) {
      if (codeOf(error) === 'E_NO_MSG') break;
      throw error;
    }
  }
  const queued = Array.from({ length: 300 }, (_, id) => id)
    .filter((id) => id % 4 === 0 && id >= 25);
  t.same(sorted(browsed), queued, 'the queued messages read back whole from their new places');

  await commits.commit();
  await backouts.backout();
  await spills.commit();
  await controller.resolve('space-xid', 'commit');
  const expected = sorted([...queued, ...Array.from({ length: 10 }, (_, i) => 10 + i), 1000,
    ...Array.from({ length: 40 }, (_, i) => 2000 + i)]);
  t.equal(controller.queue('Q').depth, expected.length, 'the units ended as they should');
  const remounted = await mounted.remount();
  t.equal(remounted.mountReport.inDoubtUnits, 0, 'nothing is left in doubt');
  const remaining = await drainIds(remounted.session(), 'Q', MESSAGE_BYTES, 1000);
  t.same(sorted(remaining.map(({ id }) => id)), expected,
    'after a remount: the backed-out gets, the queued messages and the committed puts');
  t.same(sorted(remaining.filter(({ backoutCount }) => backoutCount > 0).map(({ id }) => id)),
    Array.from({ length: 10 }, (_, i) => 10 + i),
    'the backed-out messages carry their backout count');
});
