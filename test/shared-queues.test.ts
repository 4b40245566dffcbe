/**
 * Queues shared by the members of a group: queue managers of different personalities put to
 * and get from one queue at once, a get-wait on one member is woken by a commit on another
 * (and not by an uncommitted put), and JMS selectors are evaluated in the controller, across
 * members, on get, on get-wait and on browse.
 */
import t from 'tap';

import type { JmsConnection, MqConnection } from '../src/qm/client.js';
import { errorOf, mountFresh, sleep, type MqTest } from './helpers/mq.js';
import { startQm } from './helpers/qm.js';

async function pair(t: MqTest): Promise<{ mq: MqConnection; jms: JmsConnection;
  mqOther: MqConnection; }> {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('SHARED', { defaultPersistent: true });
  const qmMq = await startQm(t, controller, { name: 'QMA', personality: 'mq' });
  const qmJms = await startQm(t, controller, { name: 'QMB', personality: 'jms' });
  const mq = await qmMq.connect() as MqConnection;
  const mqOther = await qmMq.connect() as MqConnection;
  const jms = await qmJms.connect() as JmsConnection;
  t.teardown(() => {
    mq.close();
    mqOther.close();
    jms.close();
  });
  return { mq, jms, mqOther };
}

t.test('a get-wait on one member is woken by a commit on another, not by the put', async (t) => {
  const { mq, jms } = await pair(t);
  const started = Date.now();
  const waiting = jms.get('SHARED', { waitMs: 10_000 });
  await mq.put('SHARED', { body: 'wake up' }, { syncpoint: true });
  let woken = false;
  void waiting.then(() => (woken = true), () => undefined);
  await sleep(300);
  t.notOk(woken, 'an uncommitted put does not wake the waiter');
  await mq.commit();
  const got = await waiting;
  t.equal(got.type === 'text' ? got.text : '', 'wake up');
  t.ok(Date.now() - started < 5_000);
});

t.test('members of both personalities put and get one queue concurrently; nothing lost or doubled',
  async (t) => {
    const { mq, jms, mqOther } = await pair(t);
    const count = 300;
    const puts = [
      (async () => {
        for (let i = 0; i < count; i++) await mq.put('SHARED', { body: `mq-${i}` });
      })(),
      (async () => {
        for (let i = 0; i < count; i++) await jms.put('SHARED', { type: 'text', text: `jms-${i}` });
      })(),
    ];
    const seen: string[] = [];
    const getters = [
      (async () => {
        while (seen.length < 2 * count) {
          try {
            seen.push((await mqOther.get('SHARED', { waitMs: 2_000, syncpoint: true })).body
              .toString());
            await mqOther.commit();
          } catch (error) {
            if ((error as { code?: string }).code !== 'E_NO_MSG') throw error;
            break;
          }
        }
      })(),
    ];
    await Promise.all([...puts, ...getters]);
    t.equal(seen.length, 2 * count);
    t.equal(new Set(seen).size, 2 * count, 'each message once');
    const mqOrder = seen.filter((body) => body.startsWith('mq-'));
    t.same(mqOrder, Array.from({ length: count }, (_, i) => `mq-${i}`), 'FIFO per putter');
  });

t.test('a JMS selector picks the first matching message in delivery order', async (t) => {
  const { mq, jms } = await pair(t);
  const colors = ['blue', 'red', 'green', 'red'];
  for (const [i, color] of colors.entries()) {
    await mq.put('SHARED', { body: `m${i}`, properties: { color, size: BigInt(i * 10) },
      descriptor: { priority: 4 } });
  }
  const got = await jms.get('SHARED', { selector: "color = 'red' AND size > 5" });
  t.equal(got.type === 'text' ? got.text : '', 'm1');
  const next = await jms.get('SHARED', { selector: "color IN ('red', 'green') AND NOT size < 25" });
  t.equal(next.type === 'text' ? next.text : '', 'm3');
  t.equal((await errorOf(() => jms.get('SHARED', { selector: "color = 'red'" }))).code, 'E_NO_MSG');
  const rest = [await mq.get('SHARED'), await mq.get('SHARED')].map((m) => m.body.toString());
  t.same(rest, ['m0', 'm2'], 'what the selectors passed over stays, in order');
});

t.test('a selector sees JMS header fields mapped from the MQMD', async (t) => {
  const { mq, jms } = await pair(t);
  await mq.put('SHARED', { body: 'low', descriptor: { priority: 1 } });
  await mq.put('SHARED', { body: 'high', descriptor: { priority: 8, persistence: 0 } });
  const got = await jms.get('SHARED',
    { selector: "JMSPriority > 5 AND JMSDeliveryMode = 'NON_PERSISTENT'" });
  t.equal(got.type === 'text' ? got.text : '', 'high');
  const other = await jms.get('SHARED', { selector: "JMS_IBM_Format = 'MQSTR' AND JMSXDeliveryCount = 1" });
  t.equal(other.type === 'text' ? other.text : '', 'low');
});

t.test('a get-wait with a selector is woken only by a matching commit', async (t) => {
  const { mq, jms } = await pair(t);
  const waiting = jms.get('SHARED', { selector: "kind = 'wanted'", waitMs: 10_000 });
  let woken = false;
  void waiting.then(() => (woken = true), () => undefined);
  await mq.put('SHARED', { body: 'not this', properties: { kind: 'other' } });
  await sleep(200);
  t.notOk(woken, 'a message the selector does not select leaves the waiter waiting');
  await mq.put('SHARED', { body: 'this', properties: { kind: 'wanted' } });
  const got = await waiting;
  t.equal(got.type === 'text' ? got.text : '', 'this');
  t.equal((await mq.get('SHARED')).body.toString(), 'not this');
});

t.test('a get-wait with a selector ends with E_NO_MSG at its time', async (t) => {
  const { jms } = await pair(t);
  const started = Date.now();
  const error = await errorOf(() => jms.get('SHARED', { selector: 'x = 1', waitMs: 300 }));
  t.equal(error.code, 'E_NO_MSG');
  t.ok(Date.now() - started >= 290);
});

t.test('a browse with a selector shows only what it selects, leaving the queue as it was',
  async (t) => {
    const { mq, jms } = await pair(t);
    for (let i = 0; i < 6; i++) await jms.put('SHARED', { type: 'text', text: `t${i}`,
      properties: { n: BigInt(i) } });
    const cursor = await mq.browse('SHARED', { selector: 'n BETWEEN 2 AND 4' });
    const seen = [(await cursor.first()).body.toString()];
    for (;;) {
      try {
        seen.push((await cursor.next()).body.toString());
      } catch (error) {
        t.equal((error as { code?: string }).code, 'E_NO_MSG');
        break;
      }
    }
    await cursor.close();
    t.same(seen, ['t2', 't3', 't4']);
    const all = [];
    for (let i = 0; i < 6; i++) all.push((await mq.get('SHARED')).body.toString());
    t.same(all, ['t0', 't1', 't2', 't3', 't4', 't5']);
  });

t.test('a selector that does not parse fails with E_BAD_SELECTOR and its position', async (t) => {
  const { jms } = await pair(t);
  const error = await errorOf(() => jms.get('SHARED', { selector: "color = 'red' AND" }));
  t.equal(error.code, 'E_BAD_SELECTOR');
  t.match(error.message, /position/);
  t.equal(typeof error.details['position'], 'number');
  await jms.put('SHARED', { type: 'text', text: 'still fine' });
  t.equal((await jms.get('SHARED')).type, 'text', 'the connection stays open');
});
