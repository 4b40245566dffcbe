/**
 * The protocol is language-neutral: examples/python/demo.py, a client written in Python with
 * nothing but Debian's python3-msgpack, talks to queue managers over TCP, and what it puts or
 * gets is checked from TypeScript (and the other way round): an EBCDIC big-endian MQMD and
 * body, conversion into the getter's CCSID, JMS selectors and typed properties, a refused
 * hello, pipelining. Skipped, with the reason, where /usr/bin/python3 lacks msgpack.
 */
import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import t from 'tap';

import type { Controller } from '../src/index.js';
import { IN_FLIGHT_MAX } from '../src/protocol/frames.js';
import type { JmsConnection, MqConnection } from '../src/qm/client.js';
import { MQENC_NATIVE_BIG, MQENC_NATIVE_LITTLE } from '../src/qm/mq/mqmd.js';
import type { QueueManager, QueueManagerOptions } from '../src/qm/queue-manager.js';
import { drain, errorOf, idOf, mountFresh, type MqTest } from './helpers/mq.js';
import { startQm } from './helpers/qm.js';

/** Debian's interpreter: a pyenv python3 earlier on PATH may lack msgpack. */
const PYTHON = '/usr/bin/python3';
const DEMO = fileURLToPath(new URL('../examples/python/demo.py', import.meta.url));
const QUEUE = 'INTEROP';
const SECRET = 'sixteen-chars-secret!';
const DEMO_TIMEOUT_MS = 30_000;

function pythonMissing(): string | undefined {
  try {
    execFileSync(PYTHON, ['-c', 'import msgpack'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return `${PYTHON} cannot import msgpack (Debian: apt-get install python3-msgpack)`;
  }
}
const skip = pythonMissing();
if (skip !== undefined) console.log(`# skipping the Python client tests: ${skip}`);

type Result = Record<string, unknown>;

/** Runs one scenario of demo.py against a listener; its JSON line, or a rejection with stderr. */
async function demo(qm: QueueManager, scenario: string, extra: string[] = []): Promise<Result> {
  const address = qm.address;
  if (address === undefined) throw new Error(`queue manager ${qm.name} has no listener`);
  const { stdout } = await promisify(execFile)(PYTHON, [DEMO, '--host', address.host,
    '--port', String(address.port), '--scenario', scenario, '--queue', QUEUE, ...extra],
  { timeout: DEMO_TIMEOUT_MS, encoding: 'utf8' });
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Result;
}

/** A fresh controller with the queue and one queue manager listening on a free port. */
async function listening(t: MqTest, personality: 'mq' | 'jms',
  listen: QueueManagerOptions['listen'] = { port: 0 }):
  Promise<{ controller: Controller; qm: QueueManager }> {
  const { controller } = await mountFresh(t);
  await controller.defineQueue(QUEUE, { defaultPersistent: true });
  return { controller, qm: await startQm(t, controller, { name: 'QMPY', personality, listen }) };
}

async function mqConnection(t: MqTest, qm: QueueManager, ccsid: number, encoding: number):
Promise<MqConnection> {
  const connection = await qm.connect({ ccsid, encoding }) as MqConnection;
  t.teardown(() => connection.close());
  return connection;
}

async function jmsConnection(t: MqTest, qm: QueueManager): Promise<JmsConnection> {
  const connection = await qm.connect() as JmsConnection;
  t.teardown(() => connection.close());
  return connection;
}

const hex = (bytes: Buffer): string => bytes.toString('hex');

t.test('an EBCDIC MQSTR put from Python reads converted in TypeScript, MQMD fields intact',
  { skip: skip ?? false }, async (t) => {
    const { qm } = await listening(t, 'mq');
    const put = await demo(qm, 'mq-ebcdic');
    t.equal(put['visibleBeforeCommit'], false, 'the put under syncpoint waited for the commit');
    t.equal(put['ccsid'], 37);
    t.equal(put['encoding'], MQENC_NATIVE_BIG);
    t.equal(put['format'], 'MQSTR');
    t.equal(put['replyToQ'], 'PY.REPLY');
    t.equal(put['correlId'], hex(idOf(7)));
    t.match(put['msgId'], /^[0-9a-f]{48}$/);
    t.not(put['msgId'], hex(idOf(0)), 'a MsgId of zeros asked for a new one');
    t.match(put['putDate'], /^\d{8}$/);

    const utf8 = await mqConnection(t, qm, 1208, MQENC_NATIVE_LITTLE);
    const browse = await utf8.browse(QUEUE);
    const raw = await browse.first();
    t.same([...raw.body.subarray(0, 5)], [0xc8, 0x85, 0x93, 0x93, 0x96], "'Hello' in CCSID 37");
    t.equal(raw.descriptor.codedCharSetId, 37);
    t.equal(raw.descriptor.encoding, MQENC_NATIVE_BIG);
    await browse.close();

    const got = await utf8.get(QUEUE, { convert: true });
    t.equal(got.body.toString('utf8'), 'Hello from Python [EBCDIC]');
    t.equal(got.warning, undefined);
    t.equal(got.descriptor.codedCharSetId, 1208);
    t.equal(got.descriptor.encoding, MQENC_NATIVE_LITTLE);
    t.equal(got.descriptor.format, 'MQSTR');
    t.equal(got.descriptor.priority, 4);
    t.equal(got.descriptor.persistence, 1, 'Persistence 2 took the queue default');
    t.equal(got.descriptor.replyToQ, 'PY.REPLY');
    t.same(got.descriptor.correlId, idOf(7));
    t.equal(hex(got.descriptor.msgId), put['msgId']);
    t.equal(got.descriptor.putDate, put['putDate']);
    t.equal(got.descriptor.putTime, put['putTime']);
  });

t.test('a JMS text put in TypeScript is gotten by Python through mq in UTF-8, little endian',
  { skip: skip ?? false }, async (t) => {
    const { controller, qm } = await listening(t, 'mq');
    const qmj = await startQm(t, controller, { name: 'QMJ', personality: 'jms' });
    const java = await jmsConnection(t, qmj);
    const sent = await java.put(QUEUE, { type: 'text', text: 'Grüße from TypeScript [jms]',
      correlationId: `ID:${hex(idOf(10))}`, replyTo: 'queue:///TS.REPLY' });
    const got = await demo(qm, 'get-convert', ['--ccsid', '1208', '--encoding', '546']);
    t.same(got['connection'], { ccsid: 1208, encoding: MQENC_NATIVE_LITTLE });
    t.equal(got['text'], 'Grüße from TypeScript [jms]');
    t.equal(got['ccsid'], 1208);
    t.equal(got['encoding'], MQENC_NATIVE_LITTLE);
    t.equal(got['format'], 'MQSTR');
    t.equal(`ID:${String(got['msgId'])}`, sent.messageId);
    t.equal(got['correlId'], hex(idOf(10)));
    t.equal(got['replyToQ'], 'TS.REPLY');
    t.equal(got['warning'], null);
  });

t.test('an mq put in UTF-8 is gotten by Python in EBCDIC 500, big endian, MQMD included',
  { skip: skip ?? false }, async (t) => {
    const { qm } = await listening(t, 'mq');
    const utf8 = await mqConnection(t, qm, 1208, MQENC_NATIVE_LITTLE);
    const put = await utf8.put(QUEUE, { body: 'Grüße [sanmq] ^ | !',
      descriptor: { correlId: idOf(9), replyToQ: 'TS.REPLY' } });
    const got = await demo(qm, 'get-convert', ['--ccsid', '500', '--encoding', '273']);
    t.same(got['connection'], { ccsid: 500, encoding: MQENC_NATIVE_BIG });
    t.equal(got['text'], 'Grüße [sanmq] ^ | !');
    t.equal(got['ccsid'], 500);
    t.equal(got['encoding'], MQENC_NATIVE_BIG);
    t.equal(got['msgId'], hex(put.msgId));
    t.equal(got['correlId'], hex(idOf(9)));
    t.equal(got['replyToQ'], 'TS.REPLY');
    t.equal(got['warning'], null);
  });

t.test('text without a code in Python\'s CCSID arrives unconverted with 2119',
  { skip: skip ?? false }, async (t) => {
    const { qm } = await listening(t, 'mq');
    const utf8 = await mqConnection(t, qm, 1208, MQENC_NATIVE_LITTLE);
    await utf8.put(QUEUE, { body: '価格: 5 € [日本]' });
    const got = await demo(qm, 'get-convert', ['--ccsid', '37', '--encoding', '273']);
    t.equal(got['warning'], 'W_NOT_CONVERTED');
    t.equal(got['reason'], 2119);
    t.equal(got['ccsid'], 1208, 'the MQMD still says what the body is');
    t.equal(got['text'], '価格: 5 € [日本]', 'the body came back as it was put');
  });

t.test('a selector from Python picks the red message heavier than 2; values keep their types',
  { skip: skip ?? false }, async (t) => {
    const { qm } = await listening(t, 'jms');
    const got = await demo(qm, 'jms-selector');
    t.equal(got['type'], 'text');
    t.equal(got['text'], 'red 3.5');
    t.match(got['properties'], { color: 'red', weight: 3.5, seq: 3, JMSXDeliveryCount: 1 });
    t.match(got['types'], { color: 'str', weight: 'float', seq: 'int' });

    // The two left, in the order put, with Python's float a double and its int a long.
    const java = await jmsConnection(t, qm);
    const first = await java.get(QUEUE);
    t.equal(first.type === 'text' ? first.text : undefined, 'red 1.5');
    t.equal(first.properties['weight'], 1.5);
    t.equal(first.properties['seq'], 1n);
    t.equal(first.properties['color'], 'red');
    const second = await java.get(QUEUE);
    t.equal(second.type === 'text' ? second.text : undefined, 'blue 2.5');
    t.equal((await errorOf(() => java.get(QUEUE))).code, 'E_NO_MSG');
  });

t.test('a wrong secret is refused with E_NOT_AUTHORIZED on the hello\'s id; the right one works',
  { skip: skip ?? false }, async (t) => {
    const { qm } = await listening(t, 'jms', { port: 0, secret: SECRET });
    const refused = await demo(qm, 'bad-secret', ['--secret', 'not-the-secret-at-all']);
    t.same(refused, { code: 'E_NOT_AUTHORIZED', requestId: 1 });
    const unsaid = await demo(qm, 'bad-secret');
    t.equal(unsaid['code'], 'E_NOT_AUTHORIZED');
    const served = await demo(qm, 'pipeline', ['--secret', SECRET, '--count', '3']);
    t.equal(served['count'], 3);
  });

t.test('200 pipelined puts from Python are all answered and queued in the order sent',
  { skip: skip ?? false }, async (t) => {
    const { controller, qm } = await listening(t, 'jms');
    const result = await demo(qm, 'pipeline');
    t.same(result, { count: 200, firstId: 2, lastId: 201 }, 'ids 2 to 201 after the hello');
    const bodies = await drain(controller, QUEUE);
    t.same(bodies, Array.from({ length: 200 }, (_, n) => `pipelined ${n}`));
  });

t.test('more pipelined puts than inFlightMax are paced by the Python client, none refused',
  { skip: skip ?? false }, async (t) => {
    const { controller, qm } = await listening(t, 'jms');
    const count = IN_FLIGHT_MAX + 100;
    const result = await demo(qm, 'pipeline', ['--count', String(count)]);
    t.same(result, { count, firstId: 2, lastId: count + 1 });
    const bodies = await drain(controller, QUEUE, 2 * count);
    t.equal(bodies.length, count);
    t.equal(bodies.at(-1), `pipelined ${count - 1}`);
  });
