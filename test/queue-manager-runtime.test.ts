/**
 * The queue manager's runtime and its personalities run in this thread, over MessageChannels,
 * with no worker between: the same code a worker runs (which the coverage report cannot see
 * there), checked on the paths its worker-thread tests take and on the ones they cannot reach
 * easily (a gotten message that cannot be shown as it was, a browse converting, goodbye).
 */
import { MessageChannel } from 'node:worker_threads';

import t from 'tap';

import type { MemberEnded } from '../src/controller/members.js';
import { openConnection, type JmsConnection, type MqConnection } from '../src/qm/client.js';
import { MQENC_NATIVE_BIG, MQENC_NATIVE_LITTLE } from '../src/qm/mq/mqmd.js';
import { personality } from '../src/qm/personalities.js';
import { QueueManagerRuntime } from '../src/qm/runtime.js';
import { PortTransport } from '../src/protocol/transport.js';
import type { Controller } from '../src/index.js';
import { errorOf, mountFresh, type MqTest } from './helpers/mq.js';
import { nextEvent } from './helpers/qm.js';

/** A runtime joined to the controller over a channel, and a way to connect to it. */
async function runtime(t: MqTest, controller: Controller, name: string, kind: 'mq' | 'jms',
  ccsid = 1208, encoding = MQENC_NATIVE_LITTLE): Promise<{ runtime: QueueManagerRuntime;
  connect: (options?: { ccsid?: number; encoding?: number }) => Promise<MqConnection | JmsConnection>; }> {
  const member = new MessageChannel();
  controller.attachMember(new PortTransport(member.port1, name));
  const qm = new QueueManagerRuntime(new PortTransport(member.port2, 'controller'), {
    settings: { name, ccsid, encoding }, personality: personality(kind), connectionsMax: 8,
  });
  await qm.start();
  t.teardown(() => qm.close());
  return {
    runtime: qm,
    connect: async (options = {}) => {
      const channel = new MessageChannel();
      qm.serve(new PortTransport(channel.port2, 'application'));
      const connection = await openConnection(new PortTransport(channel.port1, name), options);
      t.teardown(() => connection.close());
      return connection;
    },
  };
}

t.test('an mq and a jms runtime in this thread interoperate through the controller', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { defaultPersistent: true });
  const z = await runtime(t, controller, 'QMZ', 'mq', 500, MQENC_NATIVE_BIG);
  const j = await runtime(t, controller, 'QMJ', 'jms');
  const mq = await z.connect() as MqConnection;
  const jms = await j.connect() as JmsConnection;
  await mq.put('Q1', { body: 'from [500]', properties: { n: 1n } }, { syncpoint: true });
  await mq.commit();
  const text = await jms.get('Q1', { selector: 'n = 1' });
  t.equal(text.type === 'text' ? text.text : '', 'from [500]');
  t.equal(text.properties['JMS_IBM_Character_Set'], 500n);

  await jms.put('Q1', { type: 'map', map: { a: 1.5 }, correlationId: 'ID:' + 'ab'.repeat(24),
    replyTo: 'REPLIES', timeToLive: 60_000, deliveryMode: 'NON_PERSISTENT', jmsType: 't' });
  const cursor = await mq.browse('Q1', { convert: true });
  const seen = await cursor.first();
  t.equal(seen.descriptor.format, 'SANMQMAP');
  t.equal(seen.descriptor.codedCharSetId, 500, 'browsed and converted to the connection\'s CCSID');
  t.equal(seen.descriptor.correlId.toString('hex'), 'ab'.repeat(24));
  t.ok(seen.descriptor.expiry > 0 && seen.descriptor.expiry <= 600);
  await cursor.close();
  const map = await jms.get('Q1');
  t.same(map.type === 'map' ? map.map : {}, { a: 1.5 });
  t.equal(map.replyTo, 'queue:///REPLIES');
  t.equal(map.deliveryMode, 'NON_PERSISTENT');
  t.equal(map.jmsType, 't');
  t.ok(map.expiration > Date.now());
});

t.test('a format with no conversion comes back with reason 2110; MQFMT_NONE without a warning',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1');
    const z = await runtime(t, controller, 'QMZ', 'mq', 37, MQENC_NATIVE_BIG);
    const l = await runtime(t, controller, 'QML', 'mq');
    const zos = await z.connect() as MqConnection;
    const linux = await l.connect() as MqConnection;
    await zos.put('Q1', { body: Buffer.from([1, 2, 3]), descriptor: { format: 'MYFMT' } });
    await zos.put('Q1', { body: Buffer.from([4, 5, 6]) });
    const custom = await linux.get('Q1', { convert: true });
    t.equal(custom.warning, 'W_NOT_CONVERTED');
    t.equal(custom.reason, 2110);
    t.same([...custom.body], [1, 2, 3]);
    const none = await linux.get('Q1', { convert: true });
    t.equal(none.warning, undefined);
    t.same([...none.body], [4, 5, 6]);
  });

t.test('descriptor text that does not fit the getter\'s CCSID is cut, with a warning', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const session = controller.session();
  await session.put('Q1', { body: 'x', format: 'MQSTR', descriptor: { ccsid: 819,
    userId: 'éééééééééééé', applIdentity: '日本' } });
  const l = await runtime(t, controller, 'QML', 'mq');
  const z = await runtime(t, controller, 'QMZ', 'mq', 37, MQENC_NATIVE_BIG);
  const utf8 = await l.connect() as MqConnection;
  const ebcdic = await z.connect() as MqConnection;
  const cursor = await ebcdic.browse('Q1');
  const seen = await cursor.first();
  t.equal(seen.warning, 'W_NOT_CONVERTED');
  t.equal(seen.descriptor.applIdentityData, '??', 'no code in CCSID 37: question marks');
  const got = await utf8.get('Q1');
  t.equal(got.warning, 'W_NOT_CONVERTED');
  t.equal(got.descriptor.userIdentifier, 'éééééé', 'twelve bytes of UTF-8 hold six');
  t.equal(got.body.toString(), 'x', 'the message itself is delivered');
});

t.test('a runtime that closes says goodbye: its end is an orderly stop', async (t) => {
  const { controller } = await mountFresh(t);
  const qm = await runtime(t, controller, 'QMG', 'jms');
  const ended = nextEvent<MemberEnded>(controller.members.events, 'member-ended');
  qm.runtime.close();
  t.equal((await ended).reason, 'closed');
});

t.test('an application hello beyond the runtime\'s connections is refused with E_BUSY',
  async (t) => {
    const { controller } = await mountFresh(t);
    const qm = await runtime(t, controller, 'QMB', 'jms');
    for (let i = 0; i < 8; i++) await qm.connect();
    t.equal(qm.runtime.applications, 8);
    t.equal((await errorOf(() => qm.connect())).code, 'E_BUSY');
  });
