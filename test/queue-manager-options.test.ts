/**
 * What startQueueManager, connect, runQueueManager and the application connections refuse,
 * each with a coded error that names the option: checked before any thread starts.
 */
import t from 'tap';

import { runQueueManager } from '../src/qm/remote.js';
import type { JmsConnection, MqConnection } from '../src/qm/client.js';
import { errorOf, mountFresh } from './helpers/mq.js';
import { startQm } from './helpers/qm.js';

t.test('queue manager options are checked before a thread starts', async (t) => {
  const { controller } = await mountFresh(t);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ name: 'bad name!', personality: 'mq' }, /name must be 1 to 48 characters/],
    [{ name: 'x'.repeat(49), personality: 'mq' }, /name must be 1 to 48 characters/],
    [{ name: 'QM1', personality: 'amqp' }, /personality must be one of mq, jms/],
    [{ name: 'QM1', personality: 'mq', encoding: 'middle' }, /encoding must be 'big' or 'little'/],
    [{ name: 'QM1', personality: 'mq', ccsid: 1200 }, /CCSID 1200 is not supported/],
    [{ name: 'QM1', personality: 'jms', ccsid: 37 }, /jms queue manager works in CCSID 1208/],
    [{ name: 'QM1', personality: 'mq', connectionsMax: 0 }, /connectionsMax must be an integer from 1 to 1024/],
    [{ name: 'QM1', personality: 'mq', connectionsMax: 1025 }, /from 1 to 1024/],
    [{ name: 'QM1', personality: 'mq', startTimeoutMs: -1 }, /startTimeoutMs must be a positive/],
    [{ name: 'QM1', personality: 'mq', listen: { host: '10.1.2.3' } }, /needs a shared secret/],
    [{ name: 'QM1', personality: 'mq', listen: { port: 70_000 } }, /listen.port must be an integer/],
  ];
  for (const [options, message] of cases) {
    const error = await errorOf(() => controller.startQueueManager(options as never));
    t.equal(error.code, 'E_INVALID_ARGUMENT', JSON.stringify(options));
    t.match(error.message, message);
  }
  t.same(controller.members.members(), [], 'no member joined');
});

t.test('a listener port in use is E_BUSY, and the queue manager does not start', async (t) => {
  const { controller } = await mountFresh(t);
  const taken = await controller.listen({ port: 0 });
  const error = await errorOf(() => startQm(t, controller, { name: 'QM1', personality: 'jms',
    listen: { port: taken.port } }));
  t.equal(error.code, 'E_BUSY');
  t.match(error.message, new RegExp(`cannot listen on 127.0.0.1:${taken.port}`));
});

t.test('application get and browse refuse options they do not know', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const mq = await startQm(t, controller, { name: 'QM1', personality: 'mq' });
  const jms = await startQm(t, controller, { name: 'QM2', personality: 'jms' });
  const mqApp = await mq.connect() as MqConnection;
  const jmsApp = await jms.connect() as JmsConnection;
  t.teardown(() => {
    mqApp.close();
    jmsApp.close();
  });
  t.match(await errorOf(() => mqApp.get('Q1', { wait: 5 } as never)),
    { code: 'E_INVALID_ARGUMENT', message: /get has no option 'wait'/ });
  t.match(await errorOf(() => mqApp.browse('Q1', { waitMs: 5 } as never)),
    { code: 'E_INVALID_ARGUMENT', message: /browse has no option 'waitMs'/ });
  t.match(await errorOf(() => jmsApp.get('Q1', { convert: true } as never)),
    { code: 'E_INVALID_ARGUMENT', message: /get has no option 'convert'/ });
  t.match(await errorOf(() => mqApp.get('Q1', { ccsid: 4242 })),
    { code: 'E_INVALID_ARGUMENT', message: /CCSID 4242 is not supported/ });
  t.match(await errorOf(() => mqApp.put('Q1', { body: '€uro', descriptor: { codedCharSetId: 37 } })),
    { code: 'E_INVALID_ARGUMENT', message: /without a code in CCSID 37/ });
});

t.test('runQueueManager checks its options before it connects', async (t) => {
  const error = await errorOf(() => runQueueManager({ name: 'QMR', personality: 'mq',
    connectionsMax: 0, controller: { port: 1 } }));
  t.equal(error.code, 'E_INVALID_ARGUMENT');
  t.match(error.message, /connectionsMax/);
  const unreachable = await errorOf(() => runQueueManager({ name: 'QMR', personality: 'mq',
    controller: { port: 1, connectTimeoutMs: 2_000 } }));
  t.equal(unreachable.code, 'E_CONNECTION_BROKEN');
});
