/**
 * A queue manager whose thread ends in the middle of its work: the controller backs out its
 * units of work (prepared ones stay in doubt), releases its locks and input opens, and tells
 * the other members; the others go on working throughout, and the queue manager can be
 * restarted. Its applications see E_CONNECTION_BROKEN.
 */
import t from 'tap';

import type { MemberEnded } from '../src/controller/members.js';
import type { JmsConnection, MqConnection } from '../src/qm/client.js';
import { compiledFixture } from './helpers/compile.js';
import { drain, errorOf, mountFresh, sleep } from './helpers/mq.js';
import { nextEvent, startQm } from './helpers/qm.js';

t.test('a terminated member\'s unit of work is backed out while another member keeps working',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('WORK', { defaultPersistent: true });
    await controller.defineQueue('DONE', { defaultPersistent: true });
    const seed = controller.session();
    for (let i = 0; i < 3; i++) await seed.put('WORK', { body: `job ${i}` });
    await seed.close();
    const qm1 = await startQm(t, controller, { name: 'QM1', personality: 'mq' });
    const qm2 = await startQm(t, controller, { name: 'QM2', personality: 'jms' });
    const doomed = await qm1.connect() as MqConnection;
    const survivor = await qm2.connect() as JmsConnection;
    t.teardown(() => survivor.close());

    // QM1 takes a job and puts a result, both under syncpoint, and holds the queue exclusively.
    await doomed.open('DONE', 'exclusive');
    const taken = await doomed.get('WORK', { syncpoint: true });
    t.equal(taken.body.toString(), 'job 0');
    await doomed.put('DONE', { body: 'result of job 0' }, { syncpoint: true });
    t.equal(controller.queue('WORK').uncommitted, 1, 'the gotten job is locked');

    // QM2 works on through the failure.
    let survivorPuts = 0;
    let running = true;
    const worker = (async () => {
      for (let i = 0; running && i < 10_000; i++) {
        await survivor.put('DONE', { type: 'text', text: `survivor ${i}` });
        survivorPuts++;
      }
    })();
    const endedAtQm2 = nextEvent<Record<string, unknown>>(qm2, 'member-ended');
    const endedAtController = nextEvent<MemberEnded>(controller.members.events, 'member-ended');
    const inFlight = errorOf(() => doomed.get('WORK', { waitMs: 60_000,
      messageId: Buffer.alloc(24, 9) }));

    await qm1.terminate();
    const ended = await endedAtController;
    t.equal(ended.name, 'QM1');
    t.equal(ended.sessions, 1, 'its one application session was closed');
    t.match(await endedAtQm2, { name: 'QM1', personality: 'mq' }, 'QM2 was told');
    t.equal((await inFlight).code, 'E_CONNECTION_BROKEN');
    t.equal((await errorOf(() => doomed.commit())).code, 'E_CONNECTION_BROKEN');

    const puts = survivorPuts;
    await new Promise((resolve) => setTimeout(resolve, 200));
    t.ok(survivorPuts > puts, 'QM2 kept putting after QM1 ended');
    running = false;
    await worker;

    // Its get is backed out (the job is back, with its backout count) and its put is gone.
    const after = controller.session();
    const again = await after.get('WORK');
    t.equal(again.body.toString(), 'job 0');
    t.equal(again.backoutCount, 1);
    await after.close();
    const done = await drain(controller, 'DONE', 20_000);
    t.notOk(done.includes('result of job 0'), 'the uncommitted put never became visible');
    t.equal(done.length, survivorPuts);
    // Its exclusive input open was released with its locks.
    const other = await qm2.connect() as JmsConnection;
    await other.open('DONE', 'exclusive');
    other.close();
    t.equal(controller.members.members().map((m) => m.name).join(), 'QM2');
  });

t.test('a prepared unit of a terminated member stays in doubt and resolves', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { defaultPersistent: true });
  const qm = await startQm(t, controller, { name: 'QM1', personality: 'jms' });
  const app = await qm.connect() as JmsConnection;
  await app.put('Q1', { type: 'text', text: 'prepared' }, { syncpoint: true });
  await app.prepare('xa-1');
  await qm.terminate();
  t.same(controller.inDoubt().map((unit) => unit.xid), ['xa-1']);
  await controller.resolve('xa-1', 'commit');
  t.same(await drain(controller, 'Q1'), ['prepared']);
});

t.test('a terminated queue manager restarts under its name and serves again', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1', { defaultPersistent: true });
  const qm = await startQm(t, controller, { name: 'QM1', personality: 'mq' });
  const ended = nextEvent<{ exitCode: number }>(qm, 'ended');
  await qm.terminate();
  t.equal((await ended).exitCode, 1, 'terminate() ends the thread with exit code 1');
  t.notOk(qm.running);
  t.equal((await errorOf(() => qm.connect())).code, 'E_QM_NOT_AVAILABLE');
  await qm.restart();
  const app = await qm.connect() as MqConnection;
  await app.put('Q1', { body: 'after restart' });
  t.equal((await app.get('Q1')).body.toString(), 'after restart');
  app.close();
});

t.test('a second queue manager of a connected name is refused', async (t) => {
  const { controller } = await mountFresh(t);
  await startQm(t, controller, { name: 'QM1', personality: 'mq' });
  const error = await errorOf(() => startQm(t, controller, { name: 'QM1', personality: 'jms' }));
  t.equal(error.code, 'E_OBJECT_IN_USE');
  t.match(error.message, /QM1 is connected already/);
});

t.test('a stopped queue manager backs out its applications\' units and ends in order',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1', { defaultPersistent: true });
    const qm = await startQm(t, controller, { name: 'QM1', personality: 'jms' });
    const app = await qm.connect() as JmsConnection;
    await app.put('Q1', { type: 'text', text: 'never committed' }, { syncpoint: true });
    const ended = nextEvent<MemberEnded>(controller.members.events, 'member-ended');
    await qm.stop();
    t.equal((await ended).reason, 'closed');
    t.equal(controller.queue('Q1').depth, 0);
    t.equal((await errorOf(() => app.commit())).code, 'E_CONNECTION_BROKEN');
  });

t.test('unmounting the controller stops its queue managers', async (t) => {
  const mounted = await mountFresh(t);
  const qm = await startQm(t, mounted.controller, { name: 'QM1', personality: 'mq' });
  const ended = nextEvent<{ exitCode: number }>(qm, 'ended');
  await mounted.controller.unmount();
  await ended;
  t.notOk(qm.running);
});

t.test('a queue manager whose thread crashes has its work backed out like a terminated one',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1', { defaultPersistent: true });
    await controller.session().put('Q1', { body: 'kept' });
    process.env['SANMQ_TEST_CRASH_MS'] = '1500';
    const qm = await startQm(t, controller, { name: 'QMC', personality: 'jms',
      entry: compiledFixture('crashing-qm-worker.ts') });
    delete process.env['SANMQ_TEST_CRASH_MS'];
    const ended = nextEvent<{ exitCode: number; reason: string }>(qm, 'ended', 20_000);
    const memberEnded = nextEvent<MemberEnded>(controller.members.events, 'member-ended', 20_000);
    const app = await qm.connect() as JmsConnection;
    const got = await app.get('Q1', { syncpoint: true });
    t.equal(got.type === 'bytes' ? Buffer.from(got.bytes).toString() : '', 'kept');
    await app.put('Q1', { type: 'text', text: 'lost with the crash' }, { syncpoint: true });
    const report = await ended;
    t.equal(report.exitCode, 1);
    t.match(report.reason, /crashed on purpose/);
    t.match(await memberEnded, { name: 'QMC', reason: 'E_CONNECTION_BROKEN', sessions: 1 });
    await sleep(50);
    const session = controller.session();
    const back = await session.get('Q1');
    t.equal(back.body.toString(), 'kept');
    t.equal(back.backoutCount, 1, 'the crashed unit\'s get was backed out');
    t.equal((await errorOf(() => session.get('Q1'))).code, 'E_NO_MSG', 'its put never showed');
    await qm.restart();
    t.ok(qm.running, 'it restarts (and would crash again: the fixture always does)');
    await qm.terminate();
  });
