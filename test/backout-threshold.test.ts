/**
 * Poison messages: a message backed out as many times as its queue's backout threshold is
 * moved, with a dead-letter header (reason 2362, MQRC_BACKOUT_THRESHOLD_REACHED, and its
 * original queue), to the queue's backout requeue queue, or to the dead-letter queue when the
 * queue names none or that queue refuses it; when no queue takes it, it stays where it is and
 * its count keeps growing.
 */
import t from 'tap';

import type { Controller, Session } from '../src/index.js';
import { drain, errorOf, mountFresh } from './helpers/mq.js';

const DLQ = 'SYSTEM.DEAD.LETTER.QUEUE';

/** Gets the first message of `queue` under syncpoint and backs it out, `times` times. */
async function backOut(session: Session, queue: string, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    await session.get(queue, { syncpoint: true });
    await session.backout();
  }
}

async function definePoisoned(controller: Controller, backoutRequeueQueue = ''): Promise<void> {
  await controller.defineQueue('Q1', { defaultPersistent: true, backoutThreshold: 2,
    backoutRequeueQueue });
}

t.test('a message backed out to the threshold moves to the backout requeue queue', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('BOQ');
  await definePoisoned(lun.controller, 'BOQ');
  const session = lun.controller.session();
  const put = await session.put('Q1', { body: 'poison', priority: 6,
    correlationId: Buffer.alloc(24, 3), properties: { attempt: 'x' } });
  await backOut(session, 'Q1', 1);
  t.equal(lun.controller.queue('Q1').depth, 1, 'below the threshold it stays');
  await backOut(session, 'Q1', 1);
  t.equal(lun.controller.queue('Q1').depth, 0);
  t.equal(lun.controller.queue('BOQ').depth, 1);
  t.equal(lun.controller.queue(DLQ).depth, 0);
  const before = Date.now();
  const controller = await lun.remount();
  const moved = await controller.session().get('BOQ');
  t.equal(moved.body.toString(), 'poison');
  t.same(moved.messageId, put.messageId, 'the message keeps its id');
  t.same(moved.correlationId, Buffer.alloc(24, 3));
  t.match(moved, { priority: 6, persistent: true, backoutCount: 2, properties: { attempt: 'x' },
    deadLetter: { reason: 2362, originalQueue: 'Q1' } });
  t.ok((moved.deadLetter?.movedAt ?? 0) <= before, 'movedAt is the time of the move');
  t.equal(controller.queue('Q1').depth, 0, 'gone from its queue on the LUN too');
});

t.test('a message below the threshold stays with its count', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { backoutThreshold: 3 });
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await backOut(session, 'Q1', 2);
  const message = await session.get('Q1');
  t.equal(message.backoutCount, 2);
  t.equal(message.deadLetter, undefined);
});

t.test('a queue with threshold 0 never moves a message', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { backoutRequeueQueue: 'BOQ' });
  await controller.defineQueue('BOQ');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await backOut(session, 'Q1', 5);
  t.equal((await session.get('Q1')).backoutCount, 5);
  t.equal(controller.queue('BOQ').depth, 0);
});

t.test('without a backout requeue queue the message moves to the dead-letter queue',
  async (t) => {
    const lun = await mountFresh(t);
    t.equal(lun.controller.deadLetterQueue, DLQ, 'defined at the first mount');
    await definePoisoned(lun.controller);
    const session = lun.controller.session();
    await session.put('Q1', { body: 'poison' });
    await backOut(session, 'Q1', 2);
    const controller = await lun.remount();
    const moved = await controller.session().get(DLQ);
    t.equal(moved.body.toString(), 'poison');
    t.match(moved, { backoutCount: 2, deadLetter: { reason: 2362, originalQueue: 'Q1' } });
  });

t.test('a backout requeue queue that is not defined sends the message to the dead-letter queue',
  async (t) => {
    const { controller } = await mountFresh(t);
    await definePoisoned(controller, 'MISSING');
    const session = controller.session();
    await session.put('Q1', { body: 'poison' });
    await backOut(session, 'Q1', 2);
    t.same(await drain(controller, DLQ), ['poison']);
  });

t.test('a full backout requeue queue sends the message to the dead-letter queue', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ', { maxDepth: 0 });
  await definePoisoned(controller, 'BOQ');
  const session = controller.session();
  await session.put('Q1', { body: 'poison' });
  await backOut(session, 'Q1', 2);
  t.equal(controller.queue('Q1').depth, 0);
  t.same(await drain(controller, DLQ), ['poison']);
});

t.test('a put-inhibited backout requeue queue sends the message to the dead-letter queue',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('BOQ', { putInhibited: true });
    await definePoisoned(controller, 'BOQ');
    const session = controller.session();
    await session.put('Q1', { body: 'poison' });
    await backOut(session, 'Q1', 2);
    t.same(await drain(controller, DLQ), ['poison']);
  });

t.test('a dead-letter queue chosen with setDeadLetterQueue receives the message', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('MY.DLQ');
  await lun.controller.setDeadLetterQueue('MY.DLQ');
  await definePoisoned(lun.controller);
  const controller = await lun.remount();
  t.equal(controller.deadLetterQueue, 'MY.DLQ', 'the choice survives a remount');
  const session = controller.session();
  await session.put('Q1', { body: 'poison' });
  await backOut(session, 'Q1', 2);
  t.same(await drain(controller, 'MY.DLQ'), ['poison']);
  t.equal(controller.queue(DLQ).depth, 0);
});

t.test('with no dead-letter queue and no backout queue the message stays with its count',
  async (t) => {
    const lun = await mountFresh(t);
    await lun.controller.setDeadLetterQueue('');
    await definePoisoned(lun.controller);
    const session = lun.controller.session();
    await session.put('Q1', { body: 'poison' });
    await backOut(session, 'Q1', 3);
    t.equal(lun.controller.queue('Q1').depth, 1);
    const controller = await lun.remount();
    t.equal(controller.deadLetterQueue, '');
    const message = await controller.session().get('Q1');
    t.equal(message.backoutCount, 3, 'the count kept growing and was written');
    t.equal(message.deadLetter, undefined);
  });

t.test('a message stays with its count when the backout queue is full and the dead-letter ' +
  'queue inhibited', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ', { maxDepth: 0 });
  await controller.alterQueue(DLQ, { putInhibited: true });
  await definePoisoned(controller, 'BOQ');
  const session = controller.session();
  await session.put('Q1', { body: 'poison' });
  await backOut(session, 'Q1', 2);
  t.equal(controller.queue('Q1').depth, 1);
  t.equal(controller.queue('BOQ').depth, 0);
  t.equal(controller.queue(DLQ).depth, 0);
  t.equal((await session.get('Q1')).backoutCount, 2);
});

t.test('a message stays with its count when the backout queue is inhibited and the ' +
  'dead-letter queue full', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ', { putInhibited: true });
  await controller.alterQueue(DLQ, { maxDepth: 0 });
  await definePoisoned(controller, 'BOQ');
  const session = controller.session();
  await session.put('Q1', { body: 'poison' });
  await backOut(session, 'Q1', 2);
  const message = await session.get('Q1');
  t.equal(message.body.toString(), 'poison');
  t.equal(message.backoutCount, 2);
});

t.test('a message that stayed moves once a queue accepts it', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ', { putInhibited: true });
  await controller.alterQueue(DLQ, { putInhibited: true });
  await definePoisoned(controller, 'BOQ');
  const session = controller.session();
  await session.put('Q1', { body: 'poison' });
  await backOut(session, 'Q1', 2);
  await controller.alterQueue('BOQ', { putInhibited: false });
  await backOut(session, 'Q1', 1);
  t.equal(controller.queue('Q1').depth, 0);
  const moved = await session.get('BOQ');
  t.equal(moved.backoutCount, 3);
});

t.test('a moved message keeps the header of its first move', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ', { backoutThreshold: 1 });
  await definePoisoned(controller, 'BOQ');
  const session = controller.session();
  await session.put('Q1', { body: 'poison' });
  await backOut(session, 'Q1', 2);
  await backOut(session, 'BOQ', 1);
  const twice = await session.get(DLQ);
  t.match(twice, { backoutCount: 3, deadLetter: { reason: 2362, originalQueue: 'Q1' } });
});

t.test('a non-persistent message moves and stays non-persistent', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ');
  await controller.defineQueue('Q1', { backoutThreshold: 1, backoutRequeueQueue: 'BOQ' });
  const session = controller.session();
  await session.put('Q1', { body: 'poison', persistent: false });
  await backOut(session, 'Q1', 1);
  const moved = await session.get('BOQ');
  t.match(moved, { persistent: false, backoutCount: 1, deadLetter: { originalQueue: 'Q1' } });
});

t.test('a message gotten outside syncpoint is never moved', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ');
  await controller.defineQueue('Q1', { backoutThreshold: 1, backoutRequeueQueue: 'BOQ' });
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await session.get('Q1');
  await session.backout();
  t.equal((await errorOf(() => session.get('BOQ'))).code, 'E_NO_MSG');
});
