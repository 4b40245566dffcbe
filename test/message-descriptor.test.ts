/**
 * The descriptor block of message records (docs/FORMAT.md, flag 2): the MQMD fields beyond the
 * core ones survive on the LUN across a remount and a move to the backout queue; a message put
 * without one reads without one; bad descriptor fields are refused by name. Also the embedded
 * session's selector option, which the jms personality uses through the protocol.
 */
import t from 'tap';

import { drain, errorOf, mountFresh } from './helpers/mq.js';

const descriptor = {
  ccsid: 37, encoding: 273, messageType: 1, feedback: 0, report: 64, userId: 'ZUSER',
  applIdentity: 'ident', putApplType: 2, putApplName: 'PAYROLL', applOrigin: 'OR',
  accountingToken: Buffer.alloc(32, 3), groupId: Buffer.alloc(24, 4), sequenceNumber: 7,
  offset: 100, messageFlags: 8, originalLength: -1,
};

t.test('a descriptor survives a remount field by field', async (t) => {
  const mounted = await mountFresh(t);
  await mounted.controller.defineQueue('Q1', { defaultPersistent: true });
  await mounted.controller.session().put('Q1', { body: 'x', descriptor });
  const controller = await mounted.remount();
  const message = await controller.session().get('Q1');
  t.same(message.descriptor, descriptor);
});

t.test('a message put without a descriptor has none; partial ones take the defaults',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1');
    const session = controller.session();
    await session.put('Q1', { body: 'plain' });
    await session.put('Q1', { body: 'partial', descriptor: { ccsid: 819 } });
    t.equal((await session.get('Q1')).descriptor, undefined);
    const partial = (await session.get('Q1')).descriptor;
    t.equal(partial?.ccsid, 819);
    t.equal(partial?.encoding, 546);
    t.equal(partial?.messageType, 8);
    t.equal(partial?.sequenceNumber, 1);
  });

t.test('a message moved to the backout queue keeps its descriptor', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('BOQ', { defaultPersistent: true });
  await controller.defineQueue('Q1', { defaultPersistent: true, backoutThreshold: 1,
    backoutRequeueQueue: 'BOQ' });
  const session = controller.session();
  await session.put('Q1', { body: 'poison', descriptor });
  await session.get('Q1', { syncpoint: true });
  await session.backout();
  t.equal((await errorOf(() => session.get('Q1'))).code, 'E_NO_MSG');
  const moved = await session.get('BOQ');
  t.same(moved.descriptor, descriptor);
  t.equal(moved.deadLetter?.reason, 2362);
});

t.test('descriptor fields are checked by name', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ccsid: 1.5 }, /descriptor\.ccsid must be a 32-bit integer/],
    [{ userId: 'x'.repeat(13) }, /descriptor\.userId must be a string of at most 12/],
    [{ groupId: Buffer.alloc(3) }, /descriptor\.groupId must be 24 bytes/],
    [{ colour: 1 }, /descriptor has no field 'colour'/],
  ];
  for (const [bad, message] of cases) {
    const error = await errorOf(() => session.put('Q1', { body: 'x', descriptor: bad as never }));
    t.equal(error.code, 'E_INVALID_ARGUMENT');
    t.match(error.message, message);
  }
  t.equal(controller.queue('Q1').depth, 0);
});

t.test('an embedded get with a selector takes the first message it selects', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  for (const [i, region] of ['EU', 'US', 'EU'].entries()) {
    await session.put('Q1', { body: `m${i}`, properties: { region, amount: i * 100 } });
  }
  const got = await session.get('Q1', { selector: "region = 'EU' AND amount >= 100" });
  t.equal(got.body.toString(), 'm2');
  const bad = await errorOf(() => session.get('Q1', { selector: 'region =' }));
  t.equal(bad.code, 'E_BAD_SELECTOR');
  t.same(await drain(controller, 'Q1'), ['m0', 'm1']);
});

t.test('an empty selector selects everything', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'a' });
  t.equal((await session.get('Q1', { selector: '   ' })).body.toString(), 'a');
});
