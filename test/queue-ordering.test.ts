/**
 * Delivery order of a queue: priority order (9 first) and put order within a priority, put
 * order alone on a FIFO queue, the reordering of queued messages when the delivery sequence is
 * altered, and the same order after a remount rebuilt the index from the LUN.
 */
import t from 'tap';

import type { Session } from '../src/index.js';
import { drain, mountFresh } from './helpers/mq.js';

const PUTS = [
  { body: 'low-1', priority: 1 },
  { body: 'high-1', priority: 7 },
  { body: 'mid-1', priority: 4 },
  { body: 'high-2', priority: 7 },
  { body: 'low-2', priority: 1 },
  { body: 'mid-2', priority: 4 },
] as const;

const PRIORITY_ORDER = ['high-1', 'high-2', 'mid-1', 'mid-2', 'low-1', 'low-2'];
const PUT_ORDER = PUTS.map((put) => put.body);

async function putAll(session: Session, queue: string): Promise<void> {
  for (const put of PUTS) await session.put(queue, { ...put });
}

t.test('a higher priority message is gotten first', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'two', priority: 2 });
  await session.put('Q1', { body: 'nine', priority: 9 });
  await session.put('Q1', { body: 'zero', priority: 0 });
  await session.put('Q1', { body: 'five', priority: 5 });
  t.same(await drain(controller, 'Q1'), ['nine', 'five', 'two', 'zero']);
});

t.test('messages of one priority are gotten in put order', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await putAll(session, 'Q1');
  t.same(await drain(controller, 'Q1'), PRIORITY_ORDER);
});

t.test('a message without a priority takes the queue default priority', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { defaultPriority: 6 });
  const session = controller.session();
  await session.put('Q1', { body: 'five', priority: 5 });
  await session.put('Q1', { body: 'default' });
  const first = await session.get('Q1');
  t.equal(first.body.toString(), 'default');
  t.equal(first.priority, 6);
});

t.test('a fifo queue delivers in put order whatever the priority', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { deliverySequence: 'fifo' });
  await putAll(controller.session(), 'Q1');
  t.same(await drain(controller, 'Q1'), PUT_ORDER);
});

t.test('a fifo queue keeps each message priority', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { deliverySequence: 'fifo' });
  const session = controller.session();
  await session.put('Q1', { body: 'a', priority: 3 });
  t.equal((await session.get('Q1')).priority, 3);
});

t.test('altering a priority queue to fifo puts its queued messages in put order', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  await putAll(controller.session(), 'Q1');
  await controller.alterQueue('Q1', { deliverySequence: 'fifo' });
  t.same(await drain(controller, 'Q1'), PUT_ORDER);
});

t.test('altering a fifo queue to priority puts its queued messages in priority order',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1', { deliverySequence: 'fifo' });
    await putAll(controller.session(), 'Q1');
    await controller.alterQueue('Q1', { deliverySequence: 'priority' });
    t.same(await drain(controller, 'Q1'), PRIORITY_ORDER);
  });

t.test('messages put after the delivery sequence changed follow the new order', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'before-low', priority: 1 });
  await controller.alterQueue('Q1', { deliverySequence: 'fifo' });
  await session.put('Q1', { body: 'after-high', priority: 9 });
  t.same(await drain(controller, 'Q1'), ['before-low', 'after-high']);
});

t.test('priority order survives a remount', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  await putAll(lun.controller.session(), 'Q1');
  const controller = await lun.remount();
  t.equal(controller.queue('Q1').depth, PUTS.length);
  t.same(await drain(controller, 'Q1'), PRIORITY_ORDER);
});

t.test('fifo order survives a remount', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true, deliverySequence: 'fifo' });
  await putAll(lun.controller.session(), 'Q1');
  const controller = await lun.remount();
  t.same(await drain(controller, 'Q1'), PUT_ORDER);
});

t.test('an altered delivery sequence survives a remount', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  await putAll(lun.controller.session(), 'Q1');
  await lun.controller.alterQueue('Q1', { deliverySequence: 'fifo' });
  const controller = await lun.remount();
  t.equal(controller.queue('Q1').attributes.deliverySequence, 'fifo');
  t.same(await drain(controller, 'Q1'), PUT_ORDER);
});

t.test('messages put after a remount queue behind those put before it', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  await lun.controller.session().put('Q1', { body: 'before', priority: 4 });
  const controller = await lun.remount();
  await controller.session().put('Q1', { body: 'after', priority: 4 });
  t.same(await drain(controller, 'Q1'), ['before', 'after']);
});
