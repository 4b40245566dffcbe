/**
 * Message expiry: an expired message is never returned, by a get or by a browse; its space is
 * reclaimed (by the get that meets it or by the periodic sweep, and at mount for one that
 * expired while unmounted); gets report the remaining lifetime in tenths of a second; and a
 * message put with expiry -1 never expires.
 */
import t from 'tap';

import { waitFor } from './helpers/log.js';
import { drain, errorOf, mountFresh, sleep } from './helpers/mq.js';

t.test('an expired message is never returned by a get', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'short', priority: 9, expiry: 1 });
  await session.put('Q1', { body: 'lasting', priority: 0 });
  await sleep(250);
  t.equal((await session.get('Q1')).body.toString(), 'lasting');
  t.equal((await errorOf(() => session.get('Q1'))).code, 'E_NO_MSG');
});

t.test('an expired message is not matched by a get for its message id', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  const { messageId } = await session.put('Q1', { body: 'short', expiry: 1 });
  await sleep(250);
  t.equal((await errorOf(() => session.get('Q1', { messageId }))).code, 'E_NO_MSG');
});

t.test('an expired message is never returned by a browse', async (t) => {
  const { controller } = await mountFresh(t, { expiryIntervalMs: 0 });
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'first', expiry: 1 });
  await session.put('Q1', { body: 'second' });
  await session.put('Q1', { body: 'third', expiry: 1 });
  await sleep(250);
  const cursor = session.browse('Q1');
  t.equal((await cursor.first()).body.toString(), 'second');
  t.equal((await errorOf(() => cursor.next())).code, 'E_NO_MSG');
});

t.test('a get that meets expired messages reclaims them: expired grows, depth drops',
  async (t) => {
    const { controller } = await mountFresh(t, { expiryIntervalMs: 0 });
    await controller.defineQueue('Q1', { defaultPersistent: true });
    const session = controller.session();
    for (let i = 0; i < 3; i++) await session.put('Q1', { body: `short-${i}`, expiry: 1 });
    t.equal(controller.queue('Q1').depth, 3);
    await sleep(250);
    t.equal(controller.queue('Q1').depth, 3, 'nothing reaps them before they are met');
    t.equal((await errorOf(() => session.get('Q1'))).code, 'E_NO_MSG');
    t.ok(await waitFor(() => controller.stats().expired === 3), 'all three are counted expired');
    t.equal(controller.queue('Q1').depth, 0);
    t.equal(controller.stats().messages, 0, 'the index holds no message');
  });

t.test('the expiry sweep reclaims expired messages no get met', async (t) => {
  const { controller } = await mountFresh(t, { expiryIntervalMs: 50 });
  await controller.defineQueue('Q1', { defaultPersistent: true });
  const session = controller.session();
  await session.put('Q1', { body: 'short', expiry: 1 });
  await session.put('Q1', { body: 'lasting' });
  t.ok(await waitFor(() => controller.stats().expired === 1), 'the sweep expired it');
  t.equal(controller.queue('Q1').depth, 1);
});

t.test('a reclaimed expired message is gone from the LUN after a remount', async (t) => {
  const lun = await mountFresh(t, { expiryIntervalMs: 50 });
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  await lun.controller.session().put('Q1', { body: 'short', expiry: 1 });
  await lun.controller.session().put('Q1', { body: 'lasting' });
  t.ok(await waitFor(() => lun.controller.stats().expired === 1));
  const controller = await lun.remount();
  t.equal(controller.mountReport.messages, 1, 'only the lasting message is on the LUN');
  t.equal(controller.mountReport.expiredMessages, 0, 'the expired one was released already');
  t.same(await drain(controller, 'Q1'), ['lasting']);
});

t.test('a message that expired while unmounted is released at mount', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  await lun.controller.session().put('Q1', { body: 'short', expiry: 2 });
  await lun.controller.unmount();
  await sleep(300);
  let controller = await lun.remount();
  t.equal(controller.mountReport.expiredMessages, 1);
  t.equal(controller.queue('Q1').depth, 0);
  controller = await lun.remount();
  t.equal(controller.mountReport.expiredMessages, 0, 'the first mount released its record');
  t.equal(controller.mountReport.messages, 0);
});

t.test('a get reports the remaining expiry in tenths of a second', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a', expiry: 100 });
  await session.put('Q1', { body: 'b', expiry: 100 });
  const fresh = await session.get('Q1');
  t.ok(fresh.expiry > 95 && fresh.expiry <= 100, `almost all of 100 tenths left (${fresh.expiry})`);
  await sleep(400);
  const later = await session.get('Q1');
  t.ok(later.expiry >= 50 && later.expiry <= 97, `about 96 tenths left (${later.expiry})`);
});

t.test('a browse reports the remaining expiry in tenths of a second', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a', expiry: 600 });
  const message = await session.browse('Q1').first();
  t.ok(message.expiry > 590 && message.expiry <= 600, `almost 600 tenths left (${message.expiry})`);
});

t.test('a message put with expiry -1 never expires and reports -1', async (t) => {
  const lun = await mountFresh(t, { expiryIntervalMs: 20 });
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  const session = lun.controller.session();
  await session.put('Q1', { body: 'unlimited', expiry: -1 });
  await session.put('Q1', { body: 'default' });
  await sleep(250);
  t.equal(lun.controller.stats().expired, 0);
  const controller = await lun.remount();
  const cursor = controller.session().browse('Q1');
  t.same([(await cursor.first()).expiry, (await cursor.next()).expiry], [-1, -1]);
  t.same(await drain(controller, 'Q1'), ['unlimited', 'default']);
});

t.test('an unexpired message keeps its expiry across a remount', async (t) => {
  const lun = await mountFresh(t);
  await lun.controller.defineQueue('Q1', { defaultPersistent: true });
  await lun.controller.session().put('Q1', { body: 'a', expiry: 6000 });
  const controller = await lun.remount();
  const message = await controller.session().get('Q1');
  t.ok(message.expiry > 5900 && message.expiry <= 6000, `the deadline is kept (${message.expiry})`);
});
