/**
 * Browse cursors (MQGMO_BROWSE_FIRST / BROWSE_NEXT): they walk a queue in delivery order
 * without removing anything, end with E_NO_MSG, skip messages gotten meanwhile, never show
 * messages that a unit of work holds (gotten under syncpoint, or put and not committed), and
 * can select by correlation id.
 */
import t from 'tap';

import type { BrowseCursor, Message } from '../src/index.js';
import { errorOf, idOf, mountFresh } from './helpers/mq.js';

/** Bodies of the messages a cursor walks from first to the end (at most `limit`). */
async function walk(cursor: BrowseCursor, limit = 100): Promise<string[]> {
  const bodies: string[] = [];
  let message: Message | undefined = await cursor.first();
  for (let i = 0; message !== undefined && i < limit; i++) {
    bodies.push(message.body.toString());
    message = await cursor.next().catch((error: { code?: string }) => {
      if (error.code === 'E_NO_MSG') return undefined;
      throw error;
    });
  }
  return bodies;
}

t.test('first and next walk the queue in delivery order without removing anything',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1');
    const session = controller.session();
    await session.put('Q1', { body: 'low', priority: 1 });
    await session.put('Q1', { body: 'high', priority: 8 });
    await session.put('Q1', { body: 'mid', priority: 5 });
    await session.put('Q1', { body: 'high-2', priority: 8 });
    t.same(await walk(session.browse('Q1')), ['high', 'high-2', 'mid', 'low']);
    t.equal(controller.queue('Q1').depth, 4);
    t.equal(controller.queue('Q1').gets, 0);
    t.equal((await session.get('Q1')).body.toString(), 'high', 'a get still finds the first');
  });

t.test('a browse returns the whole message', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  const put = await session.put('Q1', { body: 'body', priority: 3, correlationId: idOf(4),
    replyToQueue: 'REPLY', format: 'MQSTR', properties: { colour: 'blue', size: 3 } });
  const message = await session.browse('Q1').first();
  t.match(message, { queue: 'Q1', priority: 3, replyToQueue: 'REPLY', format: 'MQSTR',
    backoutCount: 0, properties: { colour: 'blue', size: 3 }, deadLetter: undefined });
  t.same(message.messageId, put.messageId);
  t.same(message.correlationId, idOf(4));
  t.equal(message.body.toString(), 'body');
});

t.test('next after the last message gives E_NO_MSG, and first starts over', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'only' });
  const cursor = session.browse('Q1');
  t.equal((await cursor.first()).body.toString(), 'only');
  const end = await errorOf(() => cursor.next());
  t.equal(end.code, 'E_NO_MSG');
  t.equal(end.message, "no message available on queue 'Q1'");
  t.equal((await errorOf(() => cursor.next())).code, 'E_NO_MSG', 'and again');
  t.equal((await cursor.first()).body.toString(), 'only');
});

t.test('first on an empty queue gives E_NO_MSG', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  t.equal((await errorOf(() => controller.session().browse('Q1').first())).code, 'E_NO_MSG');
});

t.test('a message put after the end is found by next', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  const cursor = session.browse('Q1');
  await cursor.first();
  t.equal((await errorOf(() => cursor.next())).code, 'E_NO_MSG');
  await session.put('Q1', { body: 'b' });
  t.equal((await cursor.next()).body.toString(), 'b');
});

t.test('a message of higher priority than the cursor is found only from first', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'mid', priority: 5 });
  const cursor = session.browse('Q1');
  await cursor.first();
  await session.put('Q1', { body: 'high', priority: 9 });
  await session.put('Q1', { body: 'low', priority: 1 });
  t.equal((await cursor.next()).body.toString(), 'low', 'the cursor is past priority 9');
  t.same(await walk(cursor), ['high', 'mid', 'low']);
});

t.test('a message gotten meanwhile is skipped by next', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  for (const body of ['a', 'b', 'c']) await session.put('Q1', { body });
  const cursor = session.browse('Q1');
  t.equal((await cursor.first()).body.toString(), 'a');
  const other = controller.session();
  t.equal((await other.get('Q1')).body.toString(), 'a', 'the message under the cursor');
  t.equal((await other.get('Q1')).body.toString(), 'b', 'the message after it');
  t.equal((await cursor.next()).body.toString(), 'c');
});

t.test('messages gotten under syncpoint by another session are not browsed', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  for (const body of ['a', 'b', 'c']) await session.put('Q1', { body });
  const holder = controller.session();
  await holder.get('Q1', { syncpoint: true });
  t.same(await walk(session.browse('Q1')), ['b', 'c']);
  await holder.backout();
  t.same(await walk(session.browse('Q1')), ['a', 'b', 'c'], 'back in place after the backout');
});

t.test('messages gotten under syncpoint by the browsing session are not browsed', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  for (const body of ['a', 'b']) await session.put('Q1', { body });
  await session.get('Q1', { syncpoint: true });
  t.same(await walk(session.browse('Q1')), ['b']);
});

t.test('uncommitted puts are not browsed until their unit commits', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const putter = controller.session();
  await putter.put('Q1', { body: 'committed' });
  await putter.put('Q1', { body: 'pending' }, { syncpoint: true });
  const browser = controller.session();
  t.same(await walk(browser.browse('Q1')), ['committed']);
  t.same(await walk(putter.browse('Q1')), ['committed'], 'not even by the putting session');
  await putter.commit();
  t.same(await walk(browser.browse('Q1')), ['committed', 'pending']);
});

t.test('a browse with a correlation id shows only the messages that have it', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a', correlationId: idOf(1) });
  await session.put('Q1', { body: 'b', correlationId: idOf(2) });
  await session.put('Q1', { body: 'c', correlationId: idOf(1) });
  await session.put('Q1', { body: 'd' });
  t.same(await walk(session.browse('Q1', { correlationId: idOf(1) })), ['a', 'c']);
  t.equal((await errorOf(() => session.browse('Q1', { correlationId: idOf(3) }).first())).code,
    'E_NO_MSG');
  t.equal(controller.queue('Q1').depth, 4);
});

t.test('a browse with a message id shows only that message', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  const { messageId } = await session.put('Q1', { body: 'b' });
  t.same(await walk(session.browse('Q1', { messageId })), ['b']);
});

t.test('a browse of a deleted queue gives E_UNKNOWN_QUEUE', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const cursor = controller.session().browse('Q1');
  await controller.deleteQueue('Q1');
  t.equal((await errorOf(() => cursor.first())).code, 'E_UNKNOWN_QUEUE');
});
