/**
 * Triggering: a queue with trigger control on puts a trigger message (format MQTRIG, naming
 * the queue) on its initiation queue when a committed message meets its trigger type: FIRST
 * when the depth goes from 0 to 1, EVERY for each message, DEPTH when the depth reaches the
 * trigger depth (which also turns trigger control off). Messages below the trigger message
 * priority neither fire nor count, and uncommitted puts fire nothing.
 */
import t from 'tap';

import type { Controller, QueueAttributes } from '../src/index.js';
import { drain, mountFresh } from './helpers/mq.js';

async function defineTriggered(controller: Controller,
  attributes: Partial<QueueAttributes>): Promise<void> {
  await controller.defineQueue('INITQ');
  await controller.defineQueue('Q1', { triggerControl: true, initiationQueue: 'INITQ',
    ...attributes });
}

function triggers(controller: Controller): number {
  return controller.queue('INITQ').depth;
}

t.test('a FIRST trigger fires once when the queue goes from empty to one message', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'first' });
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  t.equal(triggers(controller), 1);
  await session.put('Q1', { body: 'b' });
  await session.put('Q1', { body: 'c' });
  t.equal(triggers(controller), 1, 'no more while the queue is not empty');
  await drain(controller, 'Q1');
  await session.put('Q1', { body: 'd' });
  t.equal(triggers(controller), 2, 'again once the queue was emptied');
});

t.test('a FIRST trigger fires once for a unit that commits several messages', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'first' });
  const session = controller.session();
  for (const body of ['a', 'b', 'c']) await session.put('Q1', { body }, { syncpoint: true });
  await session.commit();
  t.equal(triggers(controller), 1);
});

t.test('an EVERY trigger fires for each message', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'every' });
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await session.put('Q1', { body: 'b' });
  for (const body of ['c', 'd', 'e']) await session.put('Q1', { body }, { syncpoint: true });
  await session.commit();
  t.equal(triggers(controller), 5);
});

t.test('a DEPTH trigger fires at the trigger depth and turns trigger control off', async (t) => {
  const lun = await mountFresh(t);
  await defineTriggered(lun.controller, { triggerType: 'depth', triggerDepth: 3 });
  const session = lun.controller.session();
  await session.put('Q1', { body: 'a' });
  await session.put('Q1', { body: 'b' });
  t.equal(triggers(lun.controller), 0, 'not below the depth');
  await session.put('Q1', { body: 'c' });
  t.equal(triggers(lun.controller), 1);
  t.equal(lun.controller.queue('Q1').attributes.triggerControl, false);
  await session.put('Q1', { body: 'd' });
  await drain(lun.controller, 'Q1');
  for (const body of ['e', 'f', 'g']) await session.put('Q1', { body });
  t.equal(triggers(lun.controller), 1, 'no second trigger while trigger control is off');
  const controller = await lun.remount();
  t.equal(controller.queue('Q1').attributes.triggerControl, false, 'off on the LUN too');
});

t.test('a DEPTH trigger fires again once trigger control is turned back on', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'depth', triggerDepth: 2 });
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  await session.put('Q1', { body: 'b' });
  await drain(controller, 'Q1');
  await controller.alterQueue('Q1', { triggerControl: true });
  await session.put('Q1', { body: 'c' });
  await session.put('Q1', { body: 'd' });
  t.equal(triggers(controller), 2);
});

t.test('messages below the trigger message priority neither fire nor count', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'first', triggerMessagePriority: 5 });
  const session = controller.session();
  await session.put('Q1', { body: 'low', priority: 4 });
  t.equal(triggers(controller), 0, 'a low priority message does not fire');
  await session.put('Q1', { body: 'high', priority: 5 });
  t.equal(triggers(controller), 1, 'the first eligible message fires though the depth was 1');
  await session.put('Q1', { body: 'high-2', priority: 9 });
  t.equal(triggers(controller), 1);
});

t.test('an EVERY trigger skips messages below the trigger message priority', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'every', triggerMessagePriority: 3 });
  const session = controller.session();
  for (const priority of [0, 3, 2, 9, 1]) await session.put('Q1', { body: 'x', priority });
  t.equal(triggers(controller), 2);
});

t.test('a DEPTH trigger counts only messages at or above the trigger message priority',
  async (t) => {
    const { controller } = await mountFresh(t);
    await defineTriggered(controller, { triggerType: 'depth', triggerDepth: 2,
      triggerMessagePriority: 5 });
    const session = controller.session();
    for (const priority of [1, 6, 2, 3]) await session.put('Q1', { body: 'x', priority });
    t.equal(triggers(controller), 0, 'one eligible message of four');
    await session.put('Q1', { body: 'x', priority: 7 });
    t.equal(triggers(controller), 1);
  });

t.test('an uncommitted put fires no trigger; its commit does', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'every' });
  const session = controller.session();
  await session.put('Q1', { body: 'a' }, { syncpoint: true });
  t.equal(triggers(controller), 0);
  await session.commit();
  t.equal(triggers(controller), 1);
});

t.test('a backed-out put fires no trigger', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'first' });
  const session = controller.session();
  await session.put('Q1', { body: 'a' }, { syncpoint: true });
  await session.backout();
  t.equal(triggers(controller), 0);
});

t.test('no trigger fires while trigger control is off', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'every', triggerControl: false });
  await controller.session().put('Q1', { body: 'a' });
  t.equal(triggers(controller), 0);
});

t.test('no trigger fires while gets from the queue are inhibited', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'every', getInhibited: true });
  await controller.session().put('Q1', { body: 'a' });
  t.equal(triggers(controller), 0);
});

t.test('a trigger message has format MQTRIG and names its queue', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'first', processName: 'PROC1',
    triggerData: 'start the server' });
  await controller.session().put('Q1', { body: 'a', persistent: true });
  const trigger = await controller.session().get('INITQ');
  t.equal(trigger.format, 'MQTRIG');
  t.equal(trigger.persistent, false);
  t.same(trigger.properties, { triggerQueue: 'Q1' });
  t.same(JSON.parse(trigger.body.toString()), { queue: 'Q1', processName: 'PROC1',
    triggerData: 'start the server', triggerType: 'first' });
  t.equal(controller.queue('Q1').depth, 1, 'the application message stays');
});

t.test('a waiting get on the initiation queue is woken by a trigger', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'first' });
  const monitor = controller.session().get('INITQ', { waitMs: 5000 });
  await controller.session().put('Q1', { body: 'a' });
  t.equal((await monitor).format, 'MQTRIG');
});

t.test('no trigger message is put when the initiation queue is not defined', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { triggerControl: true, triggerType: 'every',
    initiationQueue: 'MISSING' });
  await controller.session().put('Q1', { body: 'a' });
  t.equal(controller.queue('Q1').depth, 1, 'the put itself succeeds');
  t.equal(controller.stats().messages, 1, 'no trigger message anywhere');
});

t.test('FIRST and DEPTH triggers do not fire while the queue is open for input', async (t) => {
  const { controller } = await mountFresh(t);
  await defineTriggered(controller, { triggerType: 'first' });
  const reader = controller.session();
  reader.open('Q1', 'shared');
  const writer = controller.session();
  await writer.put('Q1', { body: 'a' });
  t.equal(triggers(controller), 0, 'an application already has the queue open to get it');
  await reader.get('Q1');
  await reader.close();
  await writer.put('Q1', { body: 'b' });
  t.equal(triggers(controller), 1, 'fires once nobody has it open');
});
