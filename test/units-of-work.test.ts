/**
 * Units of work: puts under syncpoint stay invisible until commit and vanish at backout; gets
 * under syncpoint come back at backout in their place with their backout count raised (and
 * written to the LUN); a unit over several queues commits or backs out as a whole; a unit
 * holds at most unitMessagesMax messages; closing a session or unmounting backs out its unit;
 * a unit too large to hold in memory (spilled to the LUN) behaves the same; and a commit is
 * all or nothing across a crash at any of its writes.
 */
import { join } from 'node:path';

import t from 'tap';

import { Controller, type CrashMode, type Session } from '../src/index.js';
import { testDir } from './helpers/lun.js';
import { drain, errorOf, LUN_BYTES, mountFresh, type MqTest } from './helpers/mq.js';

t.test('a put under syncpoint is invisible to every session until commit', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const putter = controller.session();
  const other = controller.session();
  await putter.put('Q1', { body: 'pending' }, { syncpoint: true });
  t.ok(putter.inUnitOfWork);
  t.equal((await errorOf(() => other.get('Q1'))).code, 'E_NO_MSG', 'not for another session');
  t.equal((await errorOf(() => putter.get('Q1'))).code, 'E_NO_MSG', 'not for the putter');
  t.match(controller.queue('Q1'), { depth: 1, uncommitted: 1 }, 'counted in the depth');
  await putter.commit();
  t.notOk(putter.inUnitOfWork);
  t.match(controller.queue('Q1'), { depth: 1, uncommitted: 0 });
  t.equal((await other.get('Q1')).body.toString(), 'pending');
});

t.test('a commit makes persistent puts durable', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  for (const body of ['a', 'b', 'c']) await session.put('Q1', { body }, { syncpoint: true });
  await session.commit();
  const controller = await lun.remount();
  t.same(await drain(controller, 'Q1'), ['a', 'b', 'c']);
});

t.test('backout discards the puts of the unit', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  await session.put('Q1', { body: 'kept' });
  await session.put('Q1', { body: 'discarded' }, { syncpoint: true });
  await session.backout();
  t.match(lun.controller.queue('Q1'), { depth: 1, uncommitted: 0 });
  t.equal(lun.controller.stats().backouts, 1);
  const controller = await lun.remount();
  t.equal(controller.mountReport.rolledBackMessages, 0, 'nothing of the unit reached the LUN');
  t.same(await drain(controller, 'Q1'), ['kept']);
});

t.test('a gotten message backed out returns to its place with backoutCount + 1', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  for (const body of ['a', 'b', 'c']) await session.put('Q1', { body });
  const gotten = await session.get('Q1', { syncpoint: true });
  t.equal(gotten.backoutCount, 0);
  t.match(lun.controller.queue('Q1'), { depth: 3, uncommitted: 1 }, 'held, still counted');
  await session.backout();
  const again = await session.get('Q1', { syncpoint: true });
  t.equal(again.body.toString(), 'a', 'first in line again');
  t.equal(again.backoutCount, 1);
  t.same(again.messageId, gotten.messageId);
  await session.backout();
  const controller = await lun.remount();
  const cursor = controller.session().browse('Q1');
  const first = await cursor.first();
  t.equal(first.body.toString(), 'a', 'still first after a remount');
  t.equal(first.backoutCount, 2, 'the count was written to the LUN');
  t.equal((await cursor.next()).backoutCount, 0, 'the others are untouched');
});

t.test('a message a backout returned can be gotten by another unit before the backout ends',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1', { defaultPersistent: true });
    const first = controller.session();
    for (const body of ['a', 'b', 'c']) await first.put('Q1', { body });
    for (let i = 0; i < 3; i++) await first.get('Q1', { syncpoint: true });
    let ended = false;
    // Each returned message's new backout count is written in turn: 'a' is back first.
    const backout = first.backout().then(() => {
      ended = true;
    });
    const second = controller.session();
    let during: string | undefined;
    for (let poll = 0; poll < 100_000 && !ended && during === undefined; poll++) {
      try {
        during = (await second.get('Q1', { syncpoint: true })).body.toString();
      } catch (error) {
        if ((error as { code?: string }).code !== 'E_NO_MSG') throw error;
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
    await backout;
    t.equal(during, 'a', 'gotten while the backout still wrote the others');
    await second.commit();
    t.match(controller.queue('Q1'), { depth: 2, uncommitted: 0 });
    t.same(await drain(controller, 'Q1'), ['b', 'c']);
  });

t.test('a backed-out non-persistent message keeps its count until a get', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a', persistent: false });
  await session.get('Q1', { syncpoint: true });
  await session.backout();
  const message = await session.get('Q1');
  t.equal(message.backoutCount, 1);
  t.equal(message.persistent, false);
});

t.test('a message gotten under syncpoint and committed is gone, also after a remount',
  async (t) => {
    const lun = await mountFresh(t);
    await lun.controller.defineQueue('Q1', { defaultPersistent: true });
    const session = lun.controller.session();
    await session.put('Q1', { body: 'a' });
    await session.put('Q1', { body: 'b' });
    await session.get('Q1', { syncpoint: true });
    await session.commit();
    t.match(lun.controller.queue('Q1'), { depth: 1, uncommitted: 0, gets: 1 });
    const controller = await lun.remount();
    t.same(await drain(controller, 'Q1'), ['b']);
  });

/** A unit that got a request from IN and put replies to OUT1 and OUT2, not yet ended. */
async function requestReplyUnit(t: MqTest) {
  const lun = await mountFresh(t);
  for (const name of ['IN', 'OUT1', 'OUT2']) {
    await lun.controller.defineQueue(name, { defaultPersistent: true });
  }
  const session = lun.controller.session();
  await session.put('IN', { body: 'request' });
  await session.get('IN', { syncpoint: true });
  await session.put('OUT1', { body: 'reply-1' }, { syncpoint: true });
  await session.put('OUT2', { body: 'reply-2' }, { syncpoint: true });
  return { lun, session };
}

t.test('a unit over several queues commits all its work at once', async (t) => {
  const { lun, session } = await requestReplyUnit(t);
  const other = lun.controller.session();
  t.equal((await errorOf(() => other.get('OUT1'))).code, 'E_NO_MSG');
  t.equal((await errorOf(() => other.get('IN'))).code, 'E_NO_MSG');
  await session.commit();
  t.equal(lun.controller.queue('IN').depth, 0);
  const controller = await lun.remount();
  t.same(await drain(controller, 'IN'), []);
  t.same(await drain(controller, 'OUT1'), ['reply-1']);
  t.same(await drain(controller, 'OUT2'), ['reply-2']);
});

t.test('a unit over several queues backs out all its work at once', async (t) => {
  const { lun, session } = await requestReplyUnit(t);
  await session.backout();
  const controller = await lun.remount();
  t.same(await drain(controller, 'IN'), ['request']);
  t.same(await drain(controller, 'OUT1'), []);
  t.same(await drain(controller, 'OUT2'), []);
});

t.test('a unit refuses more than unitMessagesMax messages with E_SYNCPOINT_LIMIT', async (t) => {
  const { controller } = await mountFresh(t, { unitMessagesMax: 3 });
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'committed' });
  await session.get('Q1', { syncpoint: true });
  await session.put('Q1', { body: 'a' }, { syncpoint: true });
  await session.put('Q1', { body: 'b' }, { syncpoint: true });
  const error = await errorOf(() => session.put('Q1', { body: 'c' }, { syncpoint: true }));
  t.equal(error.code, 'E_SYNCPOINT_LIMIT');
  t.equal(error.message,
    'a unit of work holds at most 3 messages (puts and gets); commit or back out first');
  await session.put('Q1', { body: 'outside' });
  t.equal((await errorOf(() => session.get('Q1', { syncpoint: true }))).code,
    'E_SYNCPOINT_LIMIT', 'gets count as well');
  t.equal(controller.queue('Q1').depth, 4, 'the refused put added nothing');
  await session.commit();
  t.same(await drain(controller, 'Q1'), ['outside', 'a', 'b'], 'the unit commits what it held');
});

t.test('closing a session backs out its unit', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  await session.put('Q1', { body: 'held' });
  await session.get('Q1', { syncpoint: true });
  await session.put('Q1', { body: 'pending' }, { syncpoint: true });
  await session.close();
  t.match(lun.controller.queue('Q1'), { depth: 1, uncommitted: 0, openInput: 0 });
  t.equal((await errorOf(() => session.commit())).code, 'E_CLOSED');
  const message = await lun.controller.session().get('Q1');
  t.equal(message.body.toString(), 'held');
  t.equal(message.backoutCount, 1);
});

t.test('unmounting backs out the open units of work', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  await session.put('Q1', { body: 'held' });
  await session.get('Q1', { syncpoint: true });
  await session.put('Q1', { body: 'pending' }, { syncpoint: true });
  const controller = await lun.remount();
  t.equal(controller.queue('Q1').depth, 1);
  const message = await controller.session().get('Q1');
  t.equal(message.body.toString(), 'held');
  t.equal(message.backoutCount, 1);
});

t.test('commit and backout without a unit of work do nothing', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await session.commit();
  await session.backout();
  t.equal(controller.stats().backouts, 0);
  t.equal(controller.queue('Q1').depth, 1);
});

const SPILL_BODY_BYTES = 900 * 1024;

/** Four puts under syncpoint, filled 0 to 3, large enough together for the unit to spill. */
async function putSpilling(session: Session): Promise<void> {
  for (let i = 0; i < 4; i++) {
    await session.put('Q1', { body: Buffer.alloc(SPILL_BODY_BYTES, i) }, { syncpoint: true });
  }
}

t.test('a unit too large to hold in memory commits all its puts', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  await putSpilling(session);
  t.equal((await errorOf(() => lun.controller.session().get('Q1'))).code, 'E_NO_MSG');
  await session.commit();
  const controller = await lun.remount();
  const fills: number[] = [];
  const reader = controller.session();
  for (let i = 0; i < 4; i++) {
    const body = (await reader.get('Q1')).body;
    t.equal(body.length, SPILL_BODY_BYTES);
    fills.push(body[0] as number);
  }
  t.same(fills, [0, 1, 2, 3]);
  await reader.close();
  const again = await lun.remount();
  t.equal(again.mountReport.messages, 0, 'gotten spilled messages are gone from the LUN');
});

t.test('a unit too large to hold in memory backs out all its puts', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  await putSpilling(session);
  await session.backout();
  t.equal(lun.controller.queue('Q1').depth, 0);
  const controller = await lun.remount();
  t.equal(controller.queue('Q1').depth, 0);
  t.equal(controller.mountReport.rolledBackMessages, 0, 'the backout released the records');
});

t.test('a large unit left open at unmount is backed out', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  await putSpilling(session);
  const controller = await lun.remount();
  t.equal(controller.queue('Q1').depth, 0);
  t.same(await drain(controller, 'Q1'), []);
});

/**
 * A LUN with queues IN (holding 'request'), OUT1 and OUT2; mounted over the fault injector, a
 * unit gets the request and puts a reply on each OUT queue, then commits. Returns whether the
 * commit was acknowledged and the fault counter's mutations of the mount and of the commit.
 */
async function exchangeOverFaults(path: string, faults: { seed: number;
  crashAtMutation?: number; crashMode?: CrashMode }): Promise<{ acknowledged: boolean;
  opening: number; commit: number; code: string | undefined }> {
  const setup = await Controller.mount(path, { create: { sizeBytes: LUN_BYTES } });
  for (const name of ['IN', 'OUT1', 'OUT2']) {
    await setup.defineQueue(name, { defaultPersistent: true });
  }
  await setup.session().put('IN', { body: 'request' });
  await setup.unmount();
  const controller = await Controller.mount(path, { lun: { faults, prefillSegmentsAhead: 0 } });
  const mutations = () => controller.lun.faults?.counters().mutations ?? 0;
  const opening = mutations();
  let code: string | undefined;
  try {
    const session = controller.session();
    await session.get('IN', { syncpoint: true });
    await session.put('OUT1', { body: 'reply-1' }, { syncpoint: true });
    await session.put('OUT2', { body: 'reply-2' }, { syncpoint: true });
    await session.commit().catch((error: { code?: string }) => {
      code = error.code;
    });
    return { acknowledged: code === undefined, opening, commit: mutations() - opening, code };
  } finally {
    await controller.unmount().catch(() => undefined);
  }
}

t.test('a unit over several queues commits all or nothing across a crash at any write',
  async (t) => {
    const dir = testDir(t);
    let runs = 0;
    const probe = await exchangeOverFaults(join(dir, 'probe.lun'), { seed: 1 });
    t.ok(probe.acknowledged && probe.commit >= 2,
      `the commit writes and syncs (${probe.commit} mutations)`);
    const outcomes = { applied: 0, absent: 0 };
    for (const mode of ['drop', 'apply', 'partial', 'tear', 'trash'] as CrashMode[]) {
      for (let k = 1; k <= probe.commit + 1; k++) {
        const path = join(dir, `run-${runs++}.lun`);
        const run = await exchangeOverFaults(path, { seed: runs,
          crashAtMutation: probe.opening + k, crashMode: mode });
        const where = `${mode} at mutation ${k}`;
        if (!run.acknowledged) t.equal(run.code, 'E_CRASHED', `${where}: the commit failed`);
        const controller = await Controller.mount(path);
        try {
          const state = [await drain(controller, 'IN'), await drain(controller, 'OUT1'),
            await drain(controller, 'OUT2')];
          const applied = JSON.stringify(state) === JSON.stringify([[], ['reply-1'], ['reply-2']]);
          const absent = JSON.stringify(state) === JSON.stringify([['request'], [], []]);
          t.ok(applied || absent, `${where}: all or nothing (${JSON.stringify(state)})`);
          t.ok(applied || !run.acknowledged, `${where}: acknowledged means applied`);
          outcomes[applied ? 'applied' : 'absent']++;
        } finally {
          await controller.unmount();
        }
      }
    }
    t.ok(outcomes.applied > 0 && outcomes.absent > 0,
      `both outcomes occur (applied ${outcomes.applied}, absent ${outcomes.absent})`);
  });

t.test('a commit that finds the LUN full backs its unit out and rejects with E_BACKED_OUT',
  async (t) => {
    const lun = await mountFresh(t);
    const { controller } = lun;
    await controller.defineQueue('Q1', { defaultPersistent: true, maxDepth: 100_000 });
    const session = controller.session();
    const body = Buffer.alloc(1024 * 1024, 7);
    let full: unknown;
    for (let i = 0; i < 200 && full === undefined; i++) {
      full = await session.put('Q1', { body }).then(() => undefined, (error: unknown) => error);
    }
    t.equal((full as { code?: string } | undefined)?.code, 'E_LUN_FULL', 'the LUN filled up');
    const depth = controller.queue('Q1').depth;
    await session.get('Q1', { syncpoint: true });
    // Held in memory (under half an append, so not spilled): the commit needs a new segment.
    await session.put('Q1', { body: Buffer.alloc(1900 * 1024, 8) }, { syncpoint: true });
    const failed = await errorOf(() => session.commit());
    t.equal(failed.code, 'E_BACKED_OUT');
    t.equal(failed.details['cause'], 'E_LUN_FULL');
    t.equal(controller.queue('Q1').depth, depth, 'the gotten message is back, the puts gone');
    t.equal(controller.queue('Q1').uncommitted, 0);
    const again = await lun.remount();
    t.equal(again.queue('Q1').depth, depth, 'and so after a remount');
  });
