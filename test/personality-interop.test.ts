/**
 * Heterogeneous queue managers sharing queues: an `mq` queue manager in EBCDIC (CCSID 37, big
 * endian), an `mq` one in UTF-8 (little endian) and a `jms` one, each in its own worker thread,
 * put to and get from the same queue. What one personality puts, the other reads, with the
 * descriptor fields and properties mapped both ways (docs/PERSONALITIES.md).
 */
import t from 'tap';

import type { JmsConnection, MqConnection } from '../src/qm/client.js';
import { MQENC_NATIVE_BIG, MQENC_NATIVE_LITTLE, MQMT_REQUEST } from '../src/qm/mq/mqmd.js';
import { errorOf, idOf, mountFresh, type MqTest } from './helpers/mq.js';
import { startQm } from './helpers/qm.js';

async function group(t: MqTest): Promise<{ zos: MqConnection; linux: MqConnection;
  java: JmsConnection; }> {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('SHARED', { defaultPersistent: true });
  const qmz = await startQm(t, controller, { name: 'QMZ', personality: 'mq', ccsid: 37,
    encoding: 'big' });
  const qml = await startQm(t, controller, { name: 'QML', personality: 'mq' });
  const qmj = await startQm(t, controller, { name: 'QMJ', personality: 'jms' });
  const zos = await qmz.connect() as MqConnection;
  const linux = await qml.connect() as MqConnection;
  const java = await qmj.connect() as JmsConnection;
  t.teardown(() => {
    zos.close();
    linux.close();
    java.close();
  });
  return { zos, linux, java };
}

t.test('an EBCDIC string put on one mq queue manager is read converted on another', async (t) => {
  const { zos, linux } = await group(t);
  t.equal(zos.ccsid, 37);
  t.equal(zos.encoding, MQENC_NATIVE_BIG);
  const put = await zos.put('SHARED', { body: 'Hello [sanmq] | caret ^ !' });
  t.equal(put.codedCharSetId, 37);
  t.equal(put.format, 'MQSTR');
  const got = await linux.get('SHARED', { convert: true });
  t.equal(got.body.toString('utf8'), 'Hello [sanmq] | caret ^ !');
  t.equal(got.descriptor.codedCharSetId, 1208);
  t.equal(got.descriptor.encoding, MQENC_NATIVE_LITTLE);
  t.same(got.descriptor.msgId, put.msgId);
  t.equal(got.warning, undefined);
});

t.test('without convert the body comes back in the putter\'s CCSID, bytes unchanged', async (t) => {
  const { zos, linux } = await group(t);
  await zos.put('SHARED', { body: 'Hello' });
  const got = await linux.get('SHARED');
  t.same([...got.body], [0xc8, 0x85, 0x93, 0x93, 0x96]);
  t.equal(got.descriptor.codedCharSetId, 37);
});

t.test('text that has no code in the getter\'s CCSID comes back unconverted with 2119',
  async (t) => {
    const { linux, zos } = await group(t);
    await linux.put('SHARED', { body: 'price: 5 € — 日本' });
    const got = await zos.get('SHARED', { convert: true });
    t.equal(got.warning, 'W_NOT_CONVERTED');
    t.equal(got.reason, 2119);
    t.equal(got.body.toString('utf8'), 'price: 5 € — 日本');
    t.equal(got.descriptor.codedCharSetId, 1208, 'the descriptor still says what the data is');
  });

t.test('descriptor integers come back in each getter\'s byte order', async (t) => {
  const { zos, linux } = await group(t);
  await linux.put('SHARED', { body: 'x', descriptor: { priority: 7, msgType: MQMT_REQUEST,
    feedback: 258, replyToQ: 'REPLY.Q', userIdentifier: 'alice' } });
  const browse = await zos.browse('SHARED');
  const seen = await browse.first();
  t.equal(seen.descriptor.priority, 7);
  t.equal(seen.descriptor.msgType, MQMT_REQUEST);
  t.equal(seen.descriptor.feedback, 258);
  t.equal(seen.descriptor.replyToQ, 'REPLY.Q');
  t.equal(seen.descriptor.userIdentifier, 'alice');
  await browse.close();
  const got = await linux.get('SHARED');
  t.equal(got.descriptor.priority, 7);
});

t.test('a JMS text message reads as MQSTR in UTF-8 through mq, properties included', async (t) => {
  const { java, zos } = await group(t);
  const sent = await java.put('SHARED', { type: 'text', text: 'order 17 [ok]', jmsType: 'order',
    correlationId: 'batch-9', replyTo: 'queue:///REPLIES', priority: 6,
    properties: { color: 'red', count: 3n, weight: 2.5, urgent: true } });
  t.match(sent.messageId, /^ID:[0-9a-f]{48}$/);
  const got = await zos.get('SHARED', { convert: true });
  t.equal(got.descriptor.format, 'MQSTR');
  t.equal(got.descriptor.codedCharSetId, 37);
  t.equal(got.body.toString('latin1').length, 'order 17 [ok]'.length);
  t.equal(got.descriptor.priority, 6);
  t.equal(got.descriptor.replyToQ, 'REPLIES');
  t.equal(got.descriptor.persistence, 1);
  t.same(got.descriptor.correlId.subarray(0, 7), Buffer.from('batch-9'));
  t.equal(got.properties['color'], 'red');
  t.equal(got.properties['count'], 3n);
  t.equal(got.properties['weight'], 2.5);
  t.equal(got.properties['urgent'], true);
  t.equal(got.properties['JMSType'], 'order');
  t.equal(`ID:${got.descriptor.msgId.toString('hex')}`, sent.messageId);
});

t.test('an MQ message reads as a JMS message: text from EBCDIC, headers from the MQMD',
  async (t) => {
    const { zos, java } = await group(t);
    const put = await zos.put('SHARED', { body: 'from z/OS', descriptor: { correlId: idOf(5),
      replyToQ: 'ANSWERS', replyToQMgr: 'QMZ', userIdentifier: 'ZUSER', putApplName: 'PAYROLL',
      priority: 3, persistence: 0 } });
    const got = await java.get('SHARED');
    t.equal(got.type, 'text');
    t.equal(got.type === 'text' ? got.text : '', 'from z/OS');
    t.equal(got.messageId, `ID:${put.msgId.toString('hex')}`);
    t.equal(got.correlationId, `ID:${idOf(5).toString('hex')}`);
    t.equal(got.replyTo, 'queue://QMZ/ANSWERS');
    t.equal(got.priority, 3);
    t.equal(got.deliveryMode, 'NON_PERSISTENT');
    t.equal(got.properties['JMSXUserID'], 'ZUSER');
    t.equal(got.properties['JMSXAppID'], 'PAYROLL');
    t.equal(got.properties['JMS_IBM_Character_Set'], 37n);
    t.equal(got.properties['JMS_IBM_Encoding'], BigInt(MQENC_NATIVE_BIG));
    t.equal(got.properties['JMSXDeliveryCount'], 1n);
  });

t.test('a JMS map message round-trips through the controller and reads as XML through mq',
  async (t) => {
    const { java, linux } = await group(t);
    const map = { name: 'widget', qty: 12n, price: 9.75, ok: true, tag: null,
      raw: Buffer.from([1, 2, 255]) };
    await java.put('SHARED', { type: 'map', map });
    const browse = await linux.browse('SHARED');
    const seen = await browse.first();
    t.equal(seen.descriptor.format, 'SANMQMAP');
    t.match(seen.body.toString('utf8'), /^<map>.*<elt name="qty" dt="i8">12<\/elt>.*<\/map>$/);
    await browse.close();
    const got = await java.get('SHARED');
    t.equal(got.type, 'map');
    t.same(got.type === 'map' ? got.map : {}, map);
  });

t.test('bytes put through mq read as a JMS BytesMessage, bytes identical', async (t) => {
  const { linux, java } = await group(t);
  const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff]);
  await linux.put('SHARED', { body: bytes });
  const got = await java.get('SHARED');
  t.equal(got.type, 'bytes');
  t.same(got.type === 'bytes' ? [...got.bytes] : [], [...bytes]);
  t.equal(got.properties['JMS_IBM_Format'], '');
});

t.test('application property names that JMS reserves are refused on a JMS put', async (t) => {
  const { java } = await group(t);
  const error = await errorOf(() => java.put('SHARED', { type: 'text', text: 'x',
    properties: { JMSXUserID: 'mallory' } }));
  t.equal(error.code, 'E_INVALID_ARGUMENT');
  t.match(error.message, /reserved/);
});

t.test('a connection may choose its own CCSID and encoding at hello', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const qm = await startQm(t, controller, { name: 'QM1', personality: 'mq' });
  const ebcdic = await qm.connect({ ccsid: 500, encoding: MQENC_NATIVE_BIG }) as MqConnection;
  const native = await qm.connect() as MqConnection;
  t.teardown(() => {
    ebcdic.close();
    native.close();
  });
  t.equal(ebcdic.ccsid, 500);
  await native.put('Q1', { body: '[!]' });
  const got = await ebcdic.get('Q1', { convert: true });
  t.same([...got.body], [0x4a, 0x4f, 0x5a], 'CCSID 500 codes for [ ! ]');
  const refused = await errorOf(() => qm.connect({ ccsid: 9999 }));
  t.equal(refused.code, 'E_INVALID_ARGUMENT');
});
