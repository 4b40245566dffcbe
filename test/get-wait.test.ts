/**
 * Gets that wait for a message: woken by a commit (never by a put that is not committed),
 * served specific-match waiters first, then general ones, and ended by their wait interval or
 * by closing their session.
 */
import t from 'tap';

import { errorOf, idOf, mountFresh, sleep } from './helpers/mq.js';

t.test('a waiting get is woken by a commit', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const getter = controller.session();
  const putter = controller.session();
  const waiting = getter.get('Q1', { waitMs: 5000 });
  await putter.put('Q1', { body: 'hello' }, { syncpoint: true });
  const started = Date.now();
  await putter.commit();
  const message = await waiting;
  t.equal(message.body.toString(), 'hello');
  t.ok(Date.now() - started < 4000, 'the get returned long before its wait ended');
  t.equal(controller.queue('Q1').depth, 0);
});

t.test('a waiting get is woken by a put outside syncpoint', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { defaultPersistent: true });
  const waiting = controller.session().get('Q1', { waitMs: 5000 });
  await controller.session().put('Q1', { body: 'now' });
  t.equal((await waiting).body.toString(), 'now');
});

t.test('an uncommitted put does not wake a waiting get; its commit wakes the next waiter',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1');
    const putter = controller.session();
    const first = errorOf(() => controller.session().get('Q1', { waitMs: 300 }));
    await putter.put('Q1', { body: 'pending' }, { syncpoint: true });
    const error = await first;
    t.equal(error.code, 'E_NO_MSG', 'the first wait times out although a put happened');
    t.equal(controller.queue('Q1').depth, 1, 'the uncommitted put is counted in the depth');
    const second = controller.session().get('Q1', { waitMs: 5000 });
    await putter.commit();
    t.equal((await second).body.toString(), 'pending');
  });

t.test('a backed-out put wakes no waiting get', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const putter = controller.session();
  const waiting = errorOf(() => controller.session().get('Q1', { waitMs: 300 }));
  await putter.put('Q1', { body: 'discarded' }, { syncpoint: true });
  await putter.backout();
  t.equal((await waiting).code, 'E_NO_MSG');
  t.equal(controller.queue('Q1').depth, 0);
});

t.test('a waiter for a correlation id is served before a general waiter that waited longer',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1');
    const general = controller.session().get('Q1', { waitMs: 5000 });
    await sleep(20);
    const specific = controller.session().get('Q1', { waitMs: 5000,
      correlationId: idOf(7) });
    await controller.session().put('Q1', { body: 'wanted', correlationId: idOf(7) });
    t.equal((await specific).body.toString(), 'wanted', 'the later, specific waiter has it');
    await controller.session().put('Q1', { body: 'any' });
    t.equal((await general).body.toString(), 'any', 'the general waiter gets the next one');
  });

t.test('a waiter for a message id is served before a general waiter that waited longer',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1');
    const putter = controller.session();
    const general = controller.session().get('Q1', { waitMs: 5000 });
    await sleep(20);
    const specific = controller.session().get('Q1', { waitMs: 5000, messageId: idOf(9) });
    await putter.put('Q1', { body: 'wanted', messageId: idOf(9) }, { syncpoint: true });
    await putter.commit();
    t.equal((await specific).body.toString(), 'wanted');
    await putter.put('Q1', { body: 'any' });
    t.equal((await general).body.toString(), 'any');
  });

t.test('a general waiter is served a message no specific waiter matches', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const specific = errorOf(() =>
    controller.session().get('Q1', { waitMs: 300, correlationId: idOf(1) }));
  const general = controller.session().get('Q1', { waitMs: 5000 });
  await controller.session().put('Q1', { body: 'other', correlationId: idOf(2) });
  t.equal((await general).body.toString(), 'other');
  t.equal((await specific).code, 'E_NO_MSG', 'the specific waiter waits on');
});

t.test('general waiters are served in the order they started waiting', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const waits = [];
  for (let i = 0; i < 3; i++) {
    waits.push(controller.session().get('Q1', { waitMs: 5000 }));
    await sleep(5);
  }
  const putter = controller.session();
  for (const body of ['a', 'b', 'c']) await putter.put('Q1', { body }, { syncpoint: true });
  await putter.commit();
  const bodies = (await Promise.all(waits)).map((message) => message.body.toString());
  t.same(bodies, ['a', 'b', 'c']);
});

t.test('a wait ends with E_NO_MSG after about waitMs', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const started = performance.now();
  const error = await errorOf(() => controller.session().get('Q1', { waitMs: 200 }));
  const elapsedMs = performance.now() - started;
  t.equal(error.code, 'E_NO_MSG');
  t.equal(error.message, "no message available on queue 'Q1'");
  t.ok(elapsedMs >= 150, `waited at least 150 ms (${elapsedMs.toFixed(0)} ms)`);
  t.ok(elapsedMs < 5000, `waited less than 5 s (${elapsedMs.toFixed(0)} ms)`);
});

t.test('a get without wait ends at once with E_NO_MSG', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const started = performance.now();
  t.equal((await errorOf(() => controller.session().get('Q1'))).code, 'E_NO_MSG');
  t.ok(performance.now() - started < 1000);
});

t.test('closing the session ends its wait with E_CLOSED', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  const waiting = errorOf(() => session.get('Q1', { waitMs: 10_000 }));
  await sleep(20);
  const started = performance.now();
  await session.close();
  const error = await waiting;
  t.equal(error.code, 'E_CLOSED');
  t.equal(error.message, 'the session is closed');
  t.ok(performance.now() - started < 5000, 'the wait ended with the close');
  await controller.session().put('Q1', { body: 'kept' });
  t.equal(controller.queue('Q1').depth, 1, 'the closed session took nothing');
});

t.test('unmounting ends a wait with E_CLOSED', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1');
  const waiting = errorOf(() => lun.controller.session().get('Q1', { waitMs: 10_000 }));
  await lun.controller.unmount();
  t.equal((await waiting).code, 'E_CLOSED');
});
