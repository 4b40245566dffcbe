/**
 * Two-phase commit: prepare under an xid, then resolve with commit or rollback; a prepared unit
 * is in doubt and survives a remount (its gets stay invisible, its puts invisible but counted
 * in the depth) until it is resolved; xids are unique among prepared units.
 */
import t from 'tap';

import type { Controller, Session } from '../src/index.js';
import { drain, errorOf, mountFresh } from './helpers/mq.js';

/**
 * Puts 'request' on IN, then in one unit gets it and puts 'reply' on OUT, and prepares the
 * unit under `xid`. Returns the session that did it.
 */
async function prepareExchange(controller: Controller, xid: string): Promise<Session> {
  await controller.defineQueue('IN', { defaultPersistent: true });
  await controller.defineQueue('OUT', { defaultPersistent: true });
  const session = controller.session();
  await session.put('IN', { body: 'request' });
  await session.get('IN', { syncpoint: true });
  await session.put('OUT', { body: 'reply' }, { syncpoint: true });
  await session.prepare(xid);
  return session;
}

t.test('a prepared unit is in doubt: its work is invisible and listed', async (t) => {
  const { controller } = await mountFresh(t);
  const session = await prepareExchange(controller, 'xid-1');
  t.notOk(session.inUnitOfWork, 'the unit no longer belongs to the session');
  t.match(controller.inDoubt(), [{ xid: 'xid-1', puts: 1, gets: 1, queues: ['IN', 'OUT'],
    recovered: false }]);
  t.type(controller.inDoubt()[0]?.preparedAt, Date);
  t.equal(controller.stats().inDoubt, 1);
  const other = controller.session();
  t.equal((await errorOf(() => other.get('IN'))).code, 'E_NO_MSG', 'its get stays locked');
  t.equal((await errorOf(() => other.get('OUT'))).code, 'E_NO_MSG', 'its put is invisible');
  t.match(controller.queue('OUT'), { depth: 1, uncommitted: 1 });
  t.match(controller.queue('IN'), { depth: 1, uncommitted: 1 });
});

t.test('resolving a prepared unit with commit applies its work', async (t) => {
  const lun = await mountFresh(t);
  await prepareExchange(lun.controller, 'xid-1');
  await lun.controller.resolve('xid-1', 'commit');
  t.same(lun.controller.inDoubt(), []);
  t.match(lun.controller.queue('IN'), { depth: 0, uncommitted: 0 });
  const controller = await lun.remount();
  t.equal(controller.mountReport.inDoubtUnits, 0);
  t.same(await drain(controller, 'IN'), []);
  t.same(await drain(controller, 'OUT'), ['reply']);
});

t.test('resolving a prepared unit with rollback undoes its work', async (t) => {
  const lun = await mountFresh(t);
  await prepareExchange(lun.controller, 'xid-1');
  await lun.controller.resolve('xid-1', 'rollback');
  t.same(lun.controller.inDoubt(), []);
  t.match(lun.controller.queue('OUT'), { depth: 0, uncommitted: 0 });
  const controller = await lun.remount();
  const request = await controller.session().get('IN');
  t.equal(request.body.toString(), 'request');
  t.equal(request.backoutCount, 1, 'a rollback counts as a backout');
  t.same(await drain(controller, 'OUT'), []);
});

t.test('a commit resolution wakes a waiting get', async (t) => {
  const { controller } = await mountFresh(t);
  await prepareExchange(controller, 'xid-1');
  const waiting = controller.session().get('OUT', { waitMs: 5000 });
  await controller.resolve('xid-1', 'commit');
  t.equal((await waiting).body.toString(), 'reply');
});

t.test('an in-doubt unit survives a remount with its work still invisible', async (t) => {
  const lun = await mountFresh(t);
  await prepareExchange(lun.controller, 'xid-1');
  const controller = await lun.remount();
  t.equal(controller.mountReport.inDoubtUnits, 1);
  t.match(controller.inDoubt(), [{ xid: 'xid-1', puts: 1, gets: 1, queues: ['IN', 'OUT'],
    recovered: true }]);
  const other = controller.session();
  t.equal((await errorOf(() => other.get('IN'))).code, 'E_NO_MSG', 'its get stays locked');
  t.equal((await errorOf(() => other.browse('IN').first())).code, 'E_NO_MSG');
  t.equal((await errorOf(() => other.get('OUT'))).code, 'E_NO_MSG', 'its put is invisible');
  t.match(controller.queue('OUT'), { depth: 1 }, 'its put is counted in the depth');
  t.match(controller.queue('IN'), { depth: 1 });
});

t.test('an in-doubt unit survives several remounts', async (t) => {
  const lun = await mountFresh(t);
  await prepareExchange(lun.controller, 'xid-1');
  await lun.remount();
  const controller = await lun.remount();
  t.match(controller.inDoubt(), [{ xid: 'xid-1', puts: 1, gets: 1, recovered: true }]);
});

t.test('resolving with commit after a remount applies the unit', async (t) => {
  const lun = await mountFresh(t);
  await prepareExchange(lun.controller, 'xid-1');
  let controller = await lun.remount();
  await controller.resolve('xid-1', 'commit');
  t.same(controller.inDoubt(), []);
  t.match(controller.queue('IN'), { depth: 0, uncommitted: 0 });
  t.match(controller.queue('OUT'), { depth: 1, uncommitted: 0 });
  controller = await lun.remount();
  t.equal(controller.mountReport.inDoubtUnits, 0);
  t.same(await drain(controller, 'IN'), []);
  t.same(await drain(controller, 'OUT'), ['reply']);
  controller = await lun.remount();
  t.equal(controller.mountReport.messages, 0, 'the gotten reply is gone from the LUN');
});

t.test('resolving with rollback after a remount restores the gets and drops the puts',
  async (t) => {
    const lun = await mountFresh(t);
    await prepareExchange(lun.controller, 'xid-1');
    let controller = await lun.remount();
    await controller.resolve('xid-1', 'rollback');
    t.match(controller.queue('OUT'), { depth: 0, uncommitted: 0 });
    const request = await controller.session().browse('IN').first();
    t.equal(request.body.toString(), 'request');
    t.equal(request.backoutCount, 1);
    controller = await lun.remount();
    t.equal(controller.mountReport.inDoubtUnits, 0);
    t.equal((await controller.session().browse('IN').first()).backoutCount, 1,
      'the count was written to the LUN');
    t.same(await drain(controller, 'IN'), ['request']);
    t.same(await drain(controller, 'OUT'), []);
  });

t.test('several in-doubt units are listed by xid and resolved independently', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  for (const xid of ['xid-b', 'xid-a']) {
    const session = lun.controller.session();
    await session.put('Q1', { body: xid }, { syncpoint: true });
    await session.prepare(xid);
  }
  const controller = await lun.remount();
  t.same(controller.inDoubt().map((unit) => unit.xid), ['xid-a', 'xid-b']);
  await controller.resolve('xid-b', 'commit');
  await controller.resolve('xid-a', 'rollback');
  t.same(await drain(controller, 'Q1'), ['xid-b']);
});

t.test('preparing under an xid already in doubt gives E_DUPLICATE_XID', async (t) => {
  const { controller } = await mountFresh(t);
  await prepareExchange(controller, 'xid-1');
  const session = controller.session();
  await session.put('OUT', { body: 'second' }, { syncpoint: true });
  const error = await errorOf(() => session.prepare('xid-1'));
  t.equal(error.code, 'E_DUPLICATE_XID');
  t.equal(error.message, "a prepared unit of work already has xid 'xid-1'");
  t.equal(controller.inDoubt().length, 1);
  t.ok(session.inUnitOfWork, 'the unit stays with the session');
  await session.commit();
  t.match(controller.queue('OUT'), { depth: 2, uncommitted: 1 });
  await controller.resolve('xid-1', 'commit');
  t.same(await drain(controller, 'OUT'), ['reply', 'second']);
});

t.test('a refused duplicate xid leaves the session free to back out its unit', async (t) => {
  const { controller } = await mountFresh(t);
  await prepareExchange(controller, 'xid-1');
  const session = controller.session();
  await session.put('OUT', { body: 'second' }, { syncpoint: true });
  await errorOf(() => session.prepare('xid-1'));
  await session.backout();
  t.match(controller.queue('OUT'), { depth: 1, uncommitted: 1 }, 'only the in-doubt put');
});

t.test('an xid can be used again once its unit is resolved', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' }, { syncpoint: true });
  await session.prepare('xid-1');
  await controller.resolve('xid-1', 'commit');
  await session.put('Q1', { body: 'b' }, { syncpoint: true });
  await session.prepare('xid-1');
  await controller.resolve('xid-1', 'commit');
  t.same(await drain(controller, 'Q1'), ['a', 'b']);
});

t.test('resolving an unknown xid gives E_UNKNOWN_XID', async (t) => {
  const { controller } = await mountFresh(t);
  const error = await errorOf(() => controller.resolve('nobody', 'commit'));
  t.equal(error.code, 'E_UNKNOWN_XID');
  t.equal(error.message, "no prepared unit of work has xid 'nobody'");
});

t.test('resolving an xid a second time gives E_UNKNOWN_XID', async (t) => {
  const lun = await mountFresh(t);
  await prepareExchange(lun.controller, 'xid-1');
  await lun.controller.resolve('xid-1', 'rollback');
  t.equal((await errorOf(() => lun.controller.resolve('xid-1', 'commit'))).code,
    'E_UNKNOWN_XID');
  const controller = await lun.remount();
  t.equal((await errorOf(() => controller.resolve('xid-1', 'commit'))).code, 'E_UNKNOWN_XID',
    'also after a remount');
});

t.test('preparing with no work prepares an empty unit', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.session().prepare('empty');
  t.match(lun.controller.inDoubt(), [{ xid: 'empty', puts: 0, gets: 0, queues: [] }]);
  const controller = await lun.remount();
  t.match(controller.inDoubt(), [{ xid: 'empty', recovered: true }]);
  await controller.resolve('empty', 'commit');
  t.same(controller.inDoubt(), []);
});
