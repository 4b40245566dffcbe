/**
 * Gets that select a message by its message id, its correlation id or both; what a get that
 * matches nothing leaves behind; and the message ids the controller generates.
 */
import t from 'tap';

import type { Controller } from '../src/index.js';
import { drain, errorOf, idOf, mountFresh } from './helpers/mq.js';

/** Puts a, b, c, d with message ids 1..4 and correlation ids 10, 20, 10, 20. */
async function putFour(controller: Controller): Promise<void> {
  await controller.defineQueue('Q1', { defaultPersistent: true });
  const session = controller.session();
  const bodies = ['a', 'b', 'c', 'd'];
  for (const [i, body] of bodies.entries()) {
    const correlationId = idOf(10 * (1 + (i % 2)));
    await session.put('Q1', { body, messageId: idOf(i + 1), correlationId });
  }
}

t.test('a get by message id takes that message and leaves the others in order', async (t) => {
  const { controller } = await mountFresh(t);
  await putFour(controller);
  const message = await controller.session().get('Q1', { messageId: idOf(3) });
  t.equal(message.body.toString(), 'c');
  t.same(message.messageId, idOf(3));
  t.same(await drain(controller, 'Q1'), ['a', 'b', 'd']);
});

t.test('a get by correlation id takes the first message with it in delivery order',
  async (t) => {
    const { controller } = await mountFresh(t);
    await putFour(controller);
    const session = controller.session();
    const first = await session.get('Q1', { correlationId: idOf(20) });
    const second = await session.get('Q1', { correlationId: idOf(20) });
    t.same([first.body.toString(), second.body.toString()], ['b', 'd']);
    t.same(first.correlationId, idOf(20));
    t.same(await drain(controller, 'Q1'), ['a', 'c']);
  });

t.test('a get by correlation id on a priority queue takes the highest priority match',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1');
    const session = controller.session();
    await session.put('Q1', { body: 'low', priority: 1, correlationId: idOf(5) });
    await session.put('Q1', { body: 'other', priority: 9 });
    await session.put('Q1', { body: 'high', priority: 8, correlationId: idOf(5) });
    t.equal((await session.get('Q1', { correlationId: idOf(5) })).body.toString(), 'high');
  });

t.test('a get by message id and correlation id takes only a message with both', async (t) => {
  const { controller } = await mountFresh(t);
  await putFour(controller);
  const session = controller.session();
  const mismatch = await errorOf(() =>
    session.get('Q1', { messageId: idOf(1), correlationId: idOf(20) }));
  t.equal(mismatch.code, 'E_NO_MSG', 'message 1 has correlation id 10, not 20');
  const message = await session.get('Q1', { messageId: idOf(2), correlationId: idOf(20) });
  t.equal(message.body.toString(), 'b');
  t.same(await drain(controller, 'Q1'), ['a', 'c', 'd']);
});

t.test('a get that matches nothing gives E_NO_MSG and leaves every message', async (t) => {
  const { controller } = await mountFresh(t);
  await putFour(controller);
  const session = controller.session();
  t.equal((await errorOf(() => session.get('Q1', { messageId: idOf(99) }))).code, 'E_NO_MSG');
  t.equal((await errorOf(() => session.get('Q1', { correlationId: idOf(99) }))).code,
    'E_NO_MSG');
  t.equal(controller.queue('Q1').depth, 4);
  t.equal(controller.queue('Q1').uncommitted, 0, 'nothing is left claimed');
  t.same(await drain(controller, 'Q1'), ['a', 'b', 'c', 'd']);
});

t.test('a message locked by another unit is not matched', async (t) => {
  const { controller } = await mountFresh(t);
  await putFour(controller);
  const holder = controller.session();
  await holder.get('Q1', { messageId: idOf(2), syncpoint: true });
  await holder.put('Q1', { body: 'e', correlationId: idOf(30) }, { syncpoint: true });
  const other = controller.session();
  t.equal((await errorOf(() => other.get('Q1', { messageId: idOf(2) }))).code, 'E_NO_MSG',
    'a message gotten under syncpoint is not matched');
  t.equal((await errorOf(() => other.get('Q1', { correlationId: idOf(30) }))).code, 'E_NO_MSG',
    'an uncommitted put is not matched');
  await holder.commit();
  t.equal((await other.get('Q1', { correlationId: idOf(30) })).body.toString(), 'e');
});

t.test('a get by message id matches after a remount', async (t) => {
  const lun = await mountFresh(t);
  await putFour(lun.controller);
  const controller = await lun.remount();
  t.equal((await controller.session().get('Q1', { messageId: idOf(4) })).body.toString(), 'd');
  t.equal((await controller.session().get('Q1', { correlationId: idOf(10) })).body.toString(),
    'a');
});

t.test('a message without a correlation id has one of 24 zero bytes', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  const put = await session.put('Q1', { body: 'x' });
  t.same(put.correlationId, Buffer.alloc(24));
  t.same((await session.get('Q1', { correlationId: Buffer.alloc(24) })).correlationId,
    Buffer.alloc(24));
});

t.test('generated message ids are unique, 24 bytes, and the ids the gets return', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const ids: Buffer[] = [];
  for (let mount = 0; mount < 2; mount++) {
    if (mount === 1) await lun.remount();
    const session = lun.controller.session();
    for (let i = 0; i < 100; i++) {
      ids.push((await session.put('Q1', { body: String(i) })).messageId);
    }
  }
  t.same(new Set(ids.map((id) => id.length)), new Set([24]), 'every id has 24 bytes');
  t.notOk(ids.some((id) => id.equals(Buffer.alloc(24))), 'no id is all zeros');
  const hex = ids.map((id) => id.toString('hex'));
  t.equal(new Set(hex).size, ids.length, 'no id repeats, also across a remount');
  const session = lun.controller.session();
  const gotten: string[] = [];
  for (let i = 0; i < ids.length; i++) {
    gotten.push((await session.get('Q1')).messageId.toString('hex'));
  }
  t.same(gotten, hex, 'each get returns the id its put reported');
});

t.test('a message id given at put is kept, even when another message has it', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  const put = await session.put('Q1', { body: 'one', messageId: idOf(1) });
  await session.put('Q1', { body: 'two', messageId: idOf(1) });
  t.same(put.messageId, idOf(1));
  t.same(await drain(controller, 'Q1'), ['one', 'two']);
});
