/**
 * The controller's validation at its boundary: every bad argument is refused with
 * E_INVALID_ARGUMENT and a message naming the field and the rule, asserted here word for word.
 * Asynchronous calls reject rather than throw; a refused call changes nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { Controller } from '../src/index.js';
import { outcomeOf, testDir } from './helpers/lun.js';
import { mountFresh } from './helpers/mq.js';

const NAME_RULE = "must be 1 to 48 characters of A-Z, a-z, 0-9, '.', '_', '/' and '%'";
const ATTRIBUTES = 'description, maxDepth, maxMessageLength, defaultPersistent, defaultPriority, ' +
  'deliverySequence, putInhibited, getInhibited, backoutThreshold, backoutRequeueQueue, ' +
  'shareability, defaultInputOpen, triggerControl, triggerType, triggerDepth, ' +
  'triggerMessagePriority, initiationQueue, triggerData, processName';
const PRIORITY_RULE = 'message.priority must be an integer from 0 to 9';
const EXPIRY_RULE = 'message.expiry must be -1 (unlimited) or an integer from 1 to 999999999 ' +
  '(tenths of a second)';
const WAIT_RULE = 'options.waitMs must be an integer from 0 to 86400000';

/** Asserts that `call` rejects (never throws) with E_INVALID_ARGUMENT and exactly `message`. */
async function rejects(t: Test, call: () => unknown, message: string): Promise<void> {
  const outcome = await outcomeOf(call);
  t.equal(outcome.kind, 'rejected', 'the call rejects');
  t.match(outcome.error, { name: 'SanmqError', code: 'E_INVALID_ARGUMENT' });
  t.equal((outcome.error as Error | undefined)?.message, message);
}

/** Asserts that a synchronous `call` throws E_INVALID_ARGUMENT with exactly `message`. */
async function throws(t: Test, call: () => unknown, message: string): Promise<void> {
  const outcome = await outcomeOf(call);
  t.equal(outcome.kind, 'threw', 'the call throws');
  t.match(outcome.error, { name: 'SanmqError', code: 'E_INVALID_ARGUMENT' });
  t.equal((outcome.error as Error | undefined)?.message, message);
}

/** A controller with queue Q1 (empty) for the cases of one group. */
async function mountWithQueue(t: Test): Promise<Controller> {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  return controller;
}

t.test('bad queue names are refused', async (t) => {
  const controller = await mountWithQueue(t);
  const names: Array<[string, unknown]> = [
    ['an empty name', ''],
    ['a name of 49 characters', 'Q'.repeat(49)],
    ['a name with a space', 'MY QUEUE'],
    ['a name with a hyphen', 'MY-QUEUE'],
    ['a name that is not a string', 42],
  ];
  for (const [what, name] of names) {
    await t.test(`${what} is refused`, async (t) => {
      await rejects(t, () => controller.defineQueue(name as string),
        `queue name ${NAME_RULE}`);
    });
  }
  await t.test('the refused names defined nothing', async (t) => {
    t.same(controller.queueNames(), ['Q1', 'SYSTEM.DEAD.LETTER.QUEUE']);
  });
  await t.test('a name of 48 characters of every allowed kind is accepted', async (t) => {
    const name = `aZ09._/%${'Q'.repeat(40)}`;
    t.equal((await controller.defineQueue(name)).name, name);
  });
});

t.test('bad queue attributes are refused', async (t) => {
  const controller = await mountWithQueue(t);
  const cases: Array<[string, unknown, string]> = [
    ['an unknown attribute', { colour: 'red' },
      `unknown queue attribute 'colour'; known: ${ATTRIBUTES}`],
    ['attributes that are not an object', 'fifo', 'attributes must be an object'],
    ['a negative maxDepth', { maxDepth: -1 }, 'maxDepth must be an integer from 0 to 999999999'],
    ['a fractional maxDepth', { maxDepth: 1.5 }, 'maxDepth must be an integer from 0 to 999999999'],
    ['a maxMessageLength beyond one append', { maxMessageLength: controller.messageLengthMax + 1 },
      `maxMessageLength must be an integer from 0 to ${controller.messageLengthMax}`],
    ['a default priority of 10', { defaultPriority: 10 },
      'defaultPriority must be an integer from 0 to 9'],
    ['an unknown delivery sequence', { deliverySequence: 'lifo' },
      "deliverySequence must be one of 'priority', 'fifo'"],
    ['a persistence that is not a boolean', { defaultPersistent: 'yes' },
      'defaultPersistent must be true or false'],
    ['an unknown trigger type', { triggerType: 'sometimes' },
      "triggerType must be one of 'none', 'first', 'every', 'depth'"],
    ['a trigger depth of 0', { triggerDepth: 0 },
      'triggerDepth must be an integer from 1 to 999999999'],
    ['a trigger message priority of 10', { triggerMessagePriority: 10 },
      'triggerMessagePriority must be an integer from 0 to 9'],
    ['a bad backout requeue queue name', { backoutRequeueQueue: 'BAD NAME' },
      `backoutRequeueQueue ${NAME_RULE}`],
    ['a bad initiation queue name', { initiationQueue: 'BAD NAME' },
      `initiationQueue ${NAME_RULE}`],
    ['a description of 65 characters', { description: 'd'.repeat(65) },
      'description must be a string of at most 64 characters'],
    ['an unknown shareability', { shareability: 'open' },
      "shareability must be one of 'shared', 'exclusive'"],
    ['a negative backout threshold', { backoutThreshold: -1 },
      'backoutThreshold must be an integer from 0 to 999999999'],
  ];
  for (const [what, attributes, message] of cases) {
    await t.test(`${what} is refused at define`, async (t) => {
      await rejects(t, () => controller.defineQueue('NEW', attributes as object), message);
    });
    await t.test(`${what} is refused at alter and changes nothing`, async (t) => {
      const before = controller.queue('Q1').attributes;
      await rejects(t, () => controller.alterQueue('Q1', attributes as object), message);
      t.same(controller.queue('Q1').attributes, before);
    });
  }
  await t.test('no queue was defined by a refused definition', async (t) => {
    t.notOk(controller.queueNames().includes('NEW'));
  });
});

t.test('bad messages are refused at put', async (t) => {
  const controller = await mountWithQueue(t);
  const session = controller.session();
  const cases: Array<[string, unknown, string]> = [
    ['a message that is not an object', null, 'message must be an object'],
    ['an unknown message field', { body: 'x', colour: 'red' }, "message has no option 'colour'"],
    ['a missing body', {}, 'message.body must be a Buffer, Uint8Array or string'],
    ['a numeric body', { body: 5 }, 'message.body must be a Buffer, Uint8Array or string'],
    ['a priority of 10', { body: 'x', priority: 10 }, PRIORITY_RULE],
    ['a priority of -1', { body: 'x', priority: -1 }, PRIORITY_RULE],
    ['a fractional priority', { body: 'x', priority: 2.5 }, PRIORITY_RULE],
    ['a priority given as a string', { body: 'x', priority: '5' }, PRIORITY_RULE],
    ['an expiry of 0', { body: 'x', expiry: 0 }, EXPIRY_RULE],
    ['an expiry of -2', { body: 'x', expiry: -2 }, EXPIRY_RULE],
    ['a fractional expiry', { body: 'x', expiry: 1.5 }, EXPIRY_RULE],
    ['an expiry beyond the maximum', { body: 'x', expiry: 1_000_000_000 }, EXPIRY_RULE],
    ['a message id of 23 bytes', { body: 'x', messageId: Buffer.alloc(23) },
      'message.messageId must be a Buffer of 24 bytes'],
    ['a message id of 25 bytes', { body: 'x', messageId: Buffer.alloc(25) },
      'message.messageId must be a Buffer of 24 bytes'],
    ['a message id given as a string', { body: 'x', messageId: 'm'.repeat(24) },
      'message.messageId must be a Buffer of 24 bytes'],
    ['a correlation id of 8 bytes', { body: 'x', correlationId: Buffer.alloc(8) },
      'message.correlationId must be a Buffer of 24 bytes'],
    ['a persistence that is not a boolean', { body: 'x', persistent: 1 },
      'message.persistent must be true or false'],
    ['a format of 9 characters', { body: 'x', format: 'MQSTRINGS' },
      'message.format must be at most 8 printable ASCII characters'],
    ['a format with a control character', { body: 'x', format: 'MQ\nSTR' },
      'message.format must be at most 8 printable ASCII characters'],
    ['a bad reply-to queue', { body: 'x', replyToQueue: 'BAD NAME' },
      'message.replyToQueue must be a queue or queue manager name of 1 to 48 characters'],
    ['a bad reply-to queue manager', { body: 'x', replyToQueueManager: 'Q'.repeat(49) },
      'message.replyToQueueManager must be a queue or queue manager name of 1 to 48 characters'],
    ['properties that are not an object', { body: 'x', properties: 'a=1' },
      'message.properties must be an object'],
    ['a property name starting with a digit', { body: 'x', properties: { '1x': 1 } },
      "property name '1x' must start with a letter, '_' or '$' and hold only letters, " +
      'digits, _, $ and .'],
    ['a property holding an object', { body: 'x', properties: { a: {} } },
      "property 'a' must be a string, number, boolean, bigint, Buffer or null"],
  ];
  for (const [what, message, text] of cases) {
    await t.test(`${what} is refused`, async (t) => {
      await rejects(t, () => session.put('Q1', message as { body: string }), text);
    });
  }
  await t.test('an unknown put option is refused', async (t) => {
    await rejects(t, () => session.put('Q1', { body: 'x' }, { wait: true } as object),
      "put options has no option 'wait'");
  });
  await t.test('a syncpoint option that is not a boolean is refused', async (t) => {
    await rejects(t, () => session.put('Q1', { body: 'x' }, { syncpoint: 1 } as object),
      'options.syncpoint must be true or false');
  });
  await t.test('no refused put added a message or opened a unit', async (t) => {
    t.equal(controller.queue('Q1').depth, 0);
    t.notOk(session.inUnitOfWork);
  });
});

t.test('bad get and browse options are refused', async (t) => {
  const controller = await mountWithQueue(t);
  const session = controller.session();
  await session.put('Q1', { body: 'kept' });
  const cases: Array<[string, unknown, string]> = [
    ['options that are not an object', 5, 'options must be an object'],
    ['an unknown get option', { browse: true }, "get options has no option 'browse'"],
    ['a negative wait', { waitMs: -1 }, WAIT_RULE],
    ['a fractional wait', { waitMs: 1.5 }, WAIT_RULE],
    ['a wait beyond a day', { waitMs: 86_400_001 }, WAIT_RULE],
    ['a message id of 23 bytes', { messageId: Buffer.alloc(23) },
      'options.messageId must be a Buffer of 24 bytes'],
    ['a correlation id given as a string', { correlationId: 'c'.repeat(24) },
      'options.correlationId must be a Buffer of 24 bytes'],
    ['a syncpoint option that is not a boolean', { syncpoint: 'yes' },
      'options.syncpoint must be true or false'],
  ];
  for (const [what, options, message] of cases) {
    await t.test(`${what} is refused at get`, async (t) => {
      await rejects(t, () => session.get('Q1', options as object), message);
    });
  }
  await t.test('a browse with a correlation id of 3 bytes throws', async (t) => {
    await throws(t, () => session.browse('Q1', { correlationId: Buffer.alloc(3) }),
      'options.correlationId must be a Buffer of 24 bytes');
  });
  await t.test('a browse with a message id given as a string throws', async (t) => {
    await throws(t, () => session.browse('Q1', { messageId: 'm' as unknown as Buffer }),
      'options.messageId must be a Buffer of 24 bytes');
  });
  await t.test('no refused get took the message', async (t) => {
    t.match(controller.queue('Q1'), { depth: 1, uncommitted: 0 });
    t.notOk(session.inUnitOfWork);
  });
});

t.test('bad session and controller arguments are refused', async (t) => {
  const controller = await mountWithQueue(t);
  const session = controller.session();
  await t.test('an empty xid is refused', async (t) => {
    await rejects(t, () => session.prepare(''),
      'xid must be a non-empty string of at most 140 bytes');
  });
  await t.test('an xid of 141 bytes is refused', async (t) => {
    await rejects(t, () => session.prepare('é'.repeat(70) + 'x'),
      'xid must be a non-empty string of at most 140 bytes');
  });
  await t.test('an unknown outcome is refused at resolve', async (t) => {
    await rejects(t, () => controller.resolve('xid', 'maybe' as 'commit'),
      "outcome must be 'commit' or 'rollback'");
  });
  await t.test('an unknown input open throws', async (t) => {
    await throws(t, () => session.open('Q1', 'both' as 'shared'),
      "input must be 'shared' or 'exclusive'");
    t.equal(controller.queue('Q1').openInput, 0);
  });
  await t.test('a bad dead-letter queue name is refused', async (t) => {
    await rejects(t, () => controller.setDeadLetterQueue('BAD NAME'),
      `deadLetterQueue ${NAME_RULE}`);
    t.equal(controller.deadLetterQueue, 'SYSTEM.DEAD.LETTER.QUEUE');
  });
  await t.test('the refused calls left no unit in doubt', async (t) => {
    t.same(controller.inDoubt(), []);
  });
});

t.test('bad mount options are refused before the LUN is touched', async (t) => {
  const path = join(testDir(t), 'never-created.lun');
  const create = { sizeBytes: 64 * 1024 * 1024 };
  const cases: Array<[string, unknown, string]> = [
    ['options that are not an object', null, 'options must be an object'],
    ['an unknown option', { create, colour: 'red' },
      "Controller.mount has no option 'colour'; known: create, lun, cacheBytes, " +
      'unitMessagesMax, sessionsMax, expiryIntervalMs, compactBelowFreeRatio, ' +
      'nonPersistentBytesMax'],
    ['a unitMessagesMax of 0', { create, unitMessagesMax: 0 },
      'options.unitMessagesMax must be an integer from 1 to 4000'],
    ['a unitMessagesMax of 4001', { create, unitMessagesMax: 4001 },
      'options.unitMessagesMax must be an integer from 1 to 4000'],
    ['a sessionsMax of 0', { create, sessionsMax: 0 },
      'options.sessionsMax must be an integer from 1 to 1000000'],
    ['a negative expiry interval', { create, expiryIntervalMs: -1 },
      'options.expiryIntervalMs must be an integer from 0 to 3600000'],
    ['a negative cache size', { create, cacheBytes: -1 },
      'options.cacheBytes must be an integer from 0 to 1099511627776'],
    ['a negative non-persistent memory limit', { create, nonPersistentBytesMax: -1 },
      'options.nonPersistentBytesMax must be an integer from 0 to 1099511627776'],
    ['a compaction ratio of 1', { create, compactBelowFreeRatio: 1 },
      'options.compactBelowFreeRatio must be a number from 0 to 0.9'],
    ['create options that are not an object', { create: 5 }, 'options.create must be an object'],
    ['lun options that are null', { create, lun: null }, 'options.lun must be an object'],
  ];
  for (const [what, options, message] of cases) {
    await t.test(`${what} is refused`, async (t) => {
      await rejects(t, () => Controller.mount(path, options as object), message);
      t.notOk(existsSync(path), 'no LUN was formatted');
    });
  }
});
