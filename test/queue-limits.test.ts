/**
 * The limits and states of a queue: maximum depth (uncommitted puts count) and message length,
 * put and get inhibition, unknown queues, defining, replacing and deleting queues, exclusive
 * input, and which messages a remount keeps (persistent ones, not the others).
 */
import t from 'tap';

import { drain, errorOf, mountFresh } from './helpers/mq.js';

t.test('a put beyond maxDepth gives E_Q_FULL, counting uncommitted puts', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { maxDepth: 2 });
  const session = controller.session();
  await session.put('Q1', { body: 'committed' });
  await session.put('Q1', { body: 'pending' }, { syncpoint: true });
  const error = await errorOf(() => controller.session().put('Q1', { body: 'third' }));
  t.equal(error.code, 'E_Q_FULL');
  t.equal(error.message, "queue 'Q1' is full: it holds its maximum depth of 2");
  await session.backout();
  await controller.session().put('Q1', { body: 'third' });
  t.same(await drain(controller, 'Q1'), ['committed', 'third']);
});

t.test('a message gotten under syncpoint still counts toward maxDepth', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { maxDepth: 1 });
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await session.get('Q1', { syncpoint: true });
  t.equal((await errorOf(() => session.put('Q1', { body: 'b' }))).code, 'E_Q_FULL');
  await session.commit();
  await session.put('Q1', { body: 'b' });
  t.equal(controller.queue('Q1').depth, 1);
});

t.test('raising maxDepth makes room', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { maxDepth: 1 });
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  t.equal((await errorOf(() => session.put('Q1', { body: 'b' }))).code, 'E_Q_FULL');
  await controller.alterQueue('Q1', { maxDepth: 2 });
  await session.put('Q1', { body: 'b' });
  t.equal(controller.queue('Q1').depth, 2);
});

t.test('a body longer than maxMessageLength gives E_MSG_TOO_LONG', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { maxMessageLength: 10 });
  const session = controller.session();
  await session.put('Q1', { body: Buffer.alloc(10) });
  const error = await errorOf(() => session.put('Q1', { body: Buffer.alloc(11) }));
  t.equal(error.code, 'E_MSG_TOO_LONG');
  t.equal(error.message, "the message holds 11 bytes; queue 'Q1' takes at most 10");
  t.equal((await errorOf(() => session.put('Q1', { body: 'x'.repeat(11) }, { syncpoint: true })))
    .code, 'E_MSG_TOO_LONG', 'under syncpoint too');
  t.equal(controller.queue('Q1').depth, 1);
});

t.test('a put-inhibited queue refuses puts with E_PUT_INHIBITED until re-enabled', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { putInhibited: true });
  const session = controller.session();
  const error = await errorOf(() => session.put('Q1', { body: 'a' }));
  t.equal(error.code, 'E_PUT_INHIBITED');
  t.equal(error.message, "puts to queue 'Q1' are inhibited");
  t.equal((await errorOf(() => session.put('Q1', { body: 'a' }, { syncpoint: true }))).code,
    'E_PUT_INHIBITED');
  await controller.alterQueue('Q1', { putInhibited: false });
  await session.put('Q1', { body: 'a' });
  t.equal(controller.queue('Q1').depth, 1);
});

t.test('a put-inhibited queue still serves gets', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  await controller.session().put('Q1', { body: 'a' });
  await controller.alterQueue('Q1', { putInhibited: true });
  t.equal((await controller.session().get('Q1')).body.toString(), 'a');
});

t.test('a get-inhibited queue refuses gets with E_GET_INHIBITED until re-enabled', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await controller.alterQueue('Q1', { getInhibited: true });
  const error = await errorOf(() => session.get('Q1'));
  t.equal(error.code, 'E_GET_INHIBITED');
  t.equal(error.message, "gets from queue 'Q1' are inhibited");
  await session.put('Q1', { body: 'b' });
  t.equal(controller.queue('Q1').depth, 2, 'puts still work');
  await controller.alterQueue('Q1', { getInhibited: false });
  t.same(await drain(controller, 'Q1'), ['a', 'b']);
});

t.test('a get-inhibited queue refuses browses with E_GET_INHIBITED', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  const cursor = session.browse('Q1');
  await controller.alterQueue('Q1', { getInhibited: true });
  t.equal((await errorOf(() => cursor.first())).code, 'E_GET_INHIBITED');
  await controller.alterQueue('Q1', { getInhibited: false });
  t.equal((await cursor.first()).body.toString(), 'a');
});

t.test('inhibiting gets ends a waiting get with E_GET_INHIBITED', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const waiting = errorOf(() => controller.session().get('Q1', { waitMs: 5000 }));
  await controller.alterQueue('Q1', { getInhibited: true });
  await controller.session().put('Q1', { body: 'a' });
  t.equal((await waiting).code, 'E_GET_INHIBITED');
  t.equal(controller.queue('Q1').depth, 1, 'the message was not handed to the waiter');
});

t.test('an undefined queue gives E_UNKNOWN_QUEUE', async (t) => {
  const { controller } = await mountFresh(t);
  const session = controller.session();
  const error = await errorOf(() => session.put('NOPE', { body: 'a' }));
  t.equal(error.code, 'E_UNKNOWN_QUEUE');
  t.equal(error.message, "queue 'NOPE' is not defined");
  t.equal((await errorOf(() => session.get('NOPE'))).code, 'E_UNKNOWN_QUEUE');
  t.equal((await errorOf(() => session.browse('NOPE'))).code, 'E_UNKNOWN_QUEUE');
  t.equal((await errorOf(() => session.open('NOPE'))).code, 'E_UNKNOWN_QUEUE');
  t.equal((await errorOf(() => controller.queue('NOPE'))).code, 'E_UNKNOWN_QUEUE');
  t.equal((await errorOf(() => controller.alterQueue('NOPE', {}))).code, 'E_UNKNOWN_QUEUE');
  t.equal((await errorOf(() => controller.deleteQueue('NOPE'))).code, 'E_UNKNOWN_QUEUE');
  t.equal((await errorOf(() => controller.setDeadLetterQueue('NOPE'))).code, 'E_UNKNOWN_QUEUE');
});

t.test('queue names are case-sensitive', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  t.equal((await errorOf(() => controller.session().put('q1', { body: 'a' }))).code,
    'E_UNKNOWN_QUEUE');
});

t.test('defining a queue twice gives E_Q_EXISTS', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { maxDepth: 7 });
  const error = await errorOf(() => controller.defineQueue('Q1', { maxDepth: 9 }));
  t.equal(error.code, 'E_Q_EXISTS');
  t.equal(error.message, "queue 'Q1' is already defined (pass replace to redefine it)");
  t.equal(controller.queue('Q1').attributes.maxDepth, 7, 'the definition is unchanged');
});

t.test('defining with replace sets the given attributes, resets the others, keeps the messages',
  async (t) => {
    const lun = await mountFresh(t);
    await lun.controller.defineQueue('Q1', { maxDepth: 7, defaultPersistent: true });
    await lun.controller.session().put('Q1', { body: 'kept' });
    const info = await lun.controller.defineQueue('Q1', { maxDepth: 9 }, { replace: true });
    t.match(info, { name: 'Q1', depth: 1, attributes: { maxDepth: 9, defaultPersistent: false } },
      'as MQSC DEFINE REPLACE: an attribute not given returns to its default');
    const controller = await lun.remount();
    t.equal(controller.queue('Q1').attributes.maxDepth, 9, 'the new definition is durable');
    t.same(controller.queueList().map((queue) => queue.name).filter((name) => name === 'Q1'),
      ['Q1'], 'one definition after a remount');
    t.same(await drain(controller, 'Q1'), ['kept']);
  });

t.test('deleting a queue that holds messages gives E_Q_NOT_EMPTY', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  await controller.session().put('Q1', { body: 'a' });
  const error = await errorOf(() => controller.deleteQueue('Q1'));
  t.equal(error.code, 'E_Q_NOT_EMPTY');
  t.equal(error.message, "queue 'Q1' holds 1 messages; delete it with purge to discard them");
  t.equal(controller.queue('Q1').depth, 1);
});

t.test('deleting with purge discards the messages and the queue, durably', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  for (const body of ['a', 'b']) await lun.controller.session().put('Q1', { body });
  await lun.controller.deleteQueue('Q1', { purge: true });
  t.equal((await errorOf(() => lun.controller.queue('Q1'))).code, 'E_UNKNOWN_QUEUE');
  const controller = await lun.remount();
  t.notOk(controller.queueNames().includes('Q1'));
  t.equal(controller.mountReport.messages, 0);
  t.equal(controller.mountReport.orphanMessages, 0, 'the purge released the messages');
});

t.test('an empty queue is deleted without purge and can be defined again', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { maxDepth: 3 });
  await controller.deleteQueue('Q1');
  const info = await controller.defineQueue('Q1');
  t.equal(info.attributes.maxDepth, 5000, 'a fresh definition');
});

t.test('deleting a queue open for input gives E_OBJECT_IN_USE', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  session.open('Q1');
  const error = await errorOf(() => controller.deleteQueue('Q1'));
  t.equal(error.code, 'E_OBJECT_IN_USE');
  t.equal(error.message, "queue 'Q1' is open or has uncommitted messages");
  session.closeQueue('Q1');
  await controller.deleteQueue('Q1');
  t.notOk(controller.queueNames().includes('Q1'));
});

t.test('deleting a queue with an uncommitted put gives E_OBJECT_IN_USE', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' }, { syncpoint: true });
  t.equal((await errorOf(() => controller.deleteQueue('Q1', { purge: true }))).code,
    'E_OBJECT_IN_USE');
  await session.backout();
  await controller.deleteQueue('Q1');
});

t.test('a get opens the queue for input until the session closes', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await session.get('Q1');
  t.equal(controller.queue('Q1').openInput, 1);
  t.equal((await errorOf(() => controller.deleteQueue('Q1'))).code, 'E_OBJECT_IN_USE');
  await session.close();
  t.equal(controller.queue('Q1').openInput, 0);
  await controller.deleteQueue('Q1');
});

t.test('an exclusive input open refuses a second getter with E_OBJECT_IN_USE', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const owner = controller.session();
  owner.open('Q1', 'exclusive');
  await owner.put('Q1', { body: 'a' });
  const other = controller.session();
  const error = await errorOf(() => other.get('Q1'));
  t.equal(error.code, 'E_OBJECT_IN_USE');
  t.equal(error.message, "queue 'Q1' is open for exclusive input by another connection");
  await owner.put('Q1', { body: 'b' });
  t.equal(controller.queue('Q1').depth, 2, 'puts by others still work');
  t.equal((await owner.get('Q1')).body.toString(), 'a', 'the owner gets');
  await owner.close();
  t.equal((await other.get('Q1')).body.toString(), 'b', 'another gets once the owner closed');
});

t.test('an exclusive open is refused while another session holds the queue open', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const first = controller.session();
  first.open('Q1');
  const error = await errorOf(() => controller.session().open('Q1', 'exclusive'));
  t.equal(error.code, 'E_OBJECT_IN_USE');
  t.equal(error.message, "queue 'Q1' is open for input by another connection");
  controller.session().open('Q1');
  t.equal(controller.queue('Q1').openInput, 2, 'a shared open still works');
});

t.test('a queue defined not shareable opens every getter exclusively', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { shareability: 'exclusive' });
  await controller.session().put('Q1', { body: 'a' });
  const first = controller.session();
  first.open('Q1');
  t.equal((await errorOf(() => controller.session().get('Q1'))).code, 'E_OBJECT_IN_USE');
});

t.test('non-persistent messages are gone after a remount while persistent ones stay',
  async (t) => {
    const lun = await mountFresh(t);
    await lun.controller.defineQueue('Q1');
    const session = lun.controller.session();
    await session.put('Q1', { body: 'persistent-1', persistent: true });
    await session.put('Q1', { body: 'non-persistent' });
    await session.put('Q1', { body: 'persistent-2', persistent: true });
    await session.put('Q1', { body: 'committed-np', persistent: false }, { syncpoint: true });
    await session.commit();
    t.equal(lun.controller.queue('Q1').depth, 4);
    const controller = await lun.remount();
    t.equal(controller.queue('Q1').depth, 2);
    t.same(await drain(controller, 'Q1'), ['persistent-1', 'persistent-2']);
  });

t.test('a queue defined persistent makes puts without persistence persistent', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  await lun.controller.session().put('Q1', { body: 'a' });
  await lun.controller.session().put('Q1', { body: 'b', persistent: false });
  const controller = await lun.remount();
  t.same(await drain(controller, 'Q1'), ['a']);
});
