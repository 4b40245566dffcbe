/**
 * The bugs the protocol's fuzzing (protocol-fuzz.test.ts) found, each kept as the smallest case
 * that showed it: hellos with huge versions, the id of an E_BAD_FRAME, sockets left half-open,
 * long properties beyond 64 bits, queue names of the wrong type, gets whose options or
 * descriptors could have lost a message, and one application starving the others.
 */
import t from 'tap';

import { KIND_ERROR, type Args } from '../src/protocol/frames.js';
import { defaultMqmd, encodeMqmd } from '../src/qm/mq/mqmd.js';
import {
  ANSWER_WAIT_MS,
  describe,
  framed,
  RawConnection,
  requestFrame,
} from './helpers/frames.js';
import { drain, mountFresh, sleep } from './helpers/mq.js';
import { startQm } from './helpers/qm.js';

const bytesOf = (text: string): Buffer => Buffer.from(text, 'utf8');
const MQMD = encodeMqmd(defaultMqmd(), 'little', 1208);

/** A member connection past its hello, at a listener of the controller. */
async function member(port: number, name: string): Promise<RawConnection> {
  const connection = await RawConnection.tcp(port);
  await connection.hello({ versions: [1], role: 'queue-manager', name, personality: 'mq' });
  return connection;
}

t.test('a hello offering a version beyond 2^53 is refused with E_PROTOCOL_VERSION', async (t) => {
  const { controller } = await mountFresh(t);
  const listener = await controller.listen({ port: 0 });
  const connection = await RawConnection.tcp(listener.port);
  // [0, 1, "hello", {protocol: 0xffffffffffffffff}]: a uint64 reads as a bigint.
  const answer = await connection.request('hello', { protocol: 2n ** 64n - 1n });
  await connection.waitClosed();
  t.equal(answer?.code, 'E_PROTOCOL_VERSION', describe(connection));
  connection.destroy();
});

t.test('an E_BAD_FRAME about a request that was read carries the request\'s id', async (t) => {
  const { controller } = await mountFresh(t);
  const listener = await controller.listen({ port: 0 });
  const connection = await member(listener.port, 'IDS');
  connection.send(requestFrame(5, 'no-such-op', {}));
  t.ok(await connection.waitClosed(), 'the connection closes');
  const error = connection.frames.at(-1);
  t.equal(error?.kind === KIND_ERROR ? error.error.code : undefined, 'E_BAD_FRAME',
    'the unknown operation is a bad frame');
  t.equal(error?.kind === KIND_ERROR ? error.id : undefined, 5,
    'docs/PROTOCOL.md: "with the request\'s id when it is known, else 0"');
  connection.destroy();
});

t.test('after E_BAD_FRAME the server closes its socket even when the peer keeps its side open',
  async (t) => {
    const { controller } = await mountFresh(t);
    const listener = await controller.listen({ port: 0 });
    const connection = await RawConnection.tcp(listener.port, true);
    connection.send(framed(Buffer.from([0xc1])));
    await connection.waitFor(() => connection.codes.length > 0, ANSWER_WAIT_MS);
    t.same(connection.codes, ['E_BAD_FRAME']);
    // Bytes written to a socket the server has closed are refused (a reset): that is the close.
    for (let i = 0; i < 20 && !connection.closed; i++) {
      connection.send(Buffer.from([0]));
      await connection.waitClosed(100);
    }
    t.ok(connection.closed, 'the server closed the socket within 2 s');
    connection.destroy();
  });

t.test('broken connections their peers keep open do not use up a listener\'s connections',
  async (t) => {
    const { controller } = await mountFresh(t);
    const listener = await controller.listen({ port: 0, connectionsMax: 2 });
    const broken = [await RawConnection.tcp(listener.port, true),
      await RawConnection.tcp(listener.port, true)];
    for (const connection of broken) {
      connection.send(framed(Buffer.from([0xc1])));
      await connection.waitFor(() => connection.codes.length > 0, ANSWER_WAIT_MS);
    }
    await sleep(200);
    const connection = await RawConnection.tcp(listener.port);
    const answer = await connection.request('hello', { versions: [1], role: 'queue-manager',
      name: 'AFTER', personality: 'mq' }, 2_000);
    t.equal(answer?.kind, 'reply', `a new member is served: ${describe(connection)}`);
    for (const each of [...broken, connection]) each.destroy();
  });

t.test('a long property beyond 64 bits is refused at put rather than lost at get', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('LONG');
  const listener = await controller.listen({ port: 0 });
  const connection = await member(listener.port, 'LONGS');
  const opened = await connection.request('session.open', {});
  const session = (opened?.result as { session: number }).session;
  // The property ['l', 0xffffffffffffffff]: msgpack uint64, beyond a signed 64-bit long.
  const put = await connection.request('put', { session, queue: 'LONG',
    message: { body: bytesOf('long'), properties: { p: ['l', 2n ** 64n - 1n] } } });
  if (put?.kind === 'reply') {
    const got = await connection.request('get', { session, queue: 'LONG' });
    t.equal(got?.kind, 'reply', `a message the put took can be gotten: ${describe(connection)}`);
  } else {
    t.equal(put?.code, 'E_INVALID_ARGUMENT');
  }
  connection.destroy();
  const session2 = controller.session();
  const left = await session2.browse('LONG').first().then(() => 1, () => 0);
  await session2.close();
  t.equal(left, put?.kind === 'reply' ? 1 : 0, 'a message that could not be gotten is not lost');
});

t.test('application requests with arguments of the wrong type', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('KEPT');
  const mq = await startQm(t, controller, { name: 'QM1', personality: 'mq', listen: { port: 0 } });
  const jms = await startQm(t, controller, { name: 'QM2', personality: 'jms',
    listen: { port: 0 } });
  const open = async (qm: typeof mq): Promise<RawConnection> => {
    const connection = await RawConnection.tcp((qm.address as { port: number }).port);
    await connection.hello({ versions: [1], role: 'application' });
    t.teardown(() => connection.destroy());
    return connection;
  };
  const mqPut = (queue: unknown): Args => ({ queue, md: MQMD, body: bytesOf('x') });
  const jmsPut = (queue: unknown): Args => ({ queue, message: { type: 'text', text: 'x' } });

  await t.test('a put whose queue is a map with its own toString gets E_INVALID_ARGUMENT',
    async (t) => {
      // [0, 2, "put", {queue: {toString: 1}, ...}]: String(queue) throws a TypeError.
      const mqAnswer = await (await open(mq)).request('put', mqPut({ toString: 1 }));
      t.equal(mqAnswer?.code, 'E_INVALID_ARGUMENT', `mq: ${JSON.stringify(mqAnswer)}`);
      const jmsAnswer = await (await open(jms)).request('put', jmsPut({ toString: 1 }));
      t.equal(jmsAnswer?.code, 'E_INVALID_ARGUMENT', `jms: ${JSON.stringify(jmsAnswer)}`);
    });

  await t.test('a put without a queue name, or with a number, gets E_INVALID_ARGUMENT',
    async (t) => {
      for (const [name, qm, put] of [['mq', mq, mqPut], ['jms', jms, jmsPut]] as const) {
        const connection = await open(qm);
        for (const queue of [undefined, 5]) {
          const answer = await connection.request('put', put(queue));
          t.equal(answer?.code, 'E_INVALID_ARGUMENT', `${name}, queue ${String(queue)}: ` +
            `${JSON.stringify(answer)}`);
        }
      }
    });

  await t.test('an mq get whose convert or ccsid is refused leaves the message on its queue',
    async (t) => {
      const session = controller.session();
      const connection = await open(mq);
      for (const args of [{ convert: 'yes' }, { convert: true, ccsid: 'x' }]) {
        await drain(controller, 'KEPT');
        await session.put('KEPT', { body: 'kept' });
        const answer = await connection.request('get', { queue: 'KEPT', ...args });
        t.equal(answer?.code, 'E_INVALID_ARGUMENT', JSON.stringify(args));
        const kept = await session.browse('KEPT').first().then((m) => m.body.toString(),
          (error: { code?: string }) => error.code);
        t.equal(kept, 'kept', `the message is still there after get ${JSON.stringify(args)}`);
      }
      await session.close();
    });
});

t.test('an mq get in UTF-8 of a descriptor written in a single-byte CCSID keeps the message',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('KEPT');
    const qm = await startQm(t, controller, { name: 'QM1', personality: 'mq',
      listen: { port: 0 } });
    const port = (qm.address as { port: number }).port;
    const latin = await RawConnection.tcp(port);
    const utf8 = await RawConnection.tcp(port);
    t.teardown(() => [latin, utf8].forEach((connection) => connection.destroy()));
    await latin.hello({ versions: [1], role: 'application', ccsid: 819 });
    await utf8.hello({ versions: [1], role: 'application' });
    // UserIdentifier: 12 bytes 0xE9 in ISO-8859-1, 'é' x 12; in UTF-8 it takes 24 bytes.
    const md = encodeMqmd({ ...defaultMqmd(), userIdentifier: 'é'.repeat(12) }, 'little', 819);
    const put = await latin.request('put', { queue: 'KEPT', md, body: bytesOf('latin') });
    t.equal(put?.kind, 'reply', 'the put is taken');
    const got = await utf8.request('get', { queue: 'KEPT' });
    t.equal(got?.kind, 'reply', `a UTF-8 application gets it: ${describe(utf8)}`);
    if (got?.kind !== 'reply') {
      t.equal(controller.queue('KEPT').depth, 1,
        'a message the get could not show is still on its queue');
    }
  });

t.test('one application\'s waiting gets do not hold up another application\'s hello',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('EMPTY');
    const qm = await startQm(t, controller, { name: 'QM1', personality: 'jms',
      listen: { port: 0 } });
    const port = (qm.address as { port: number }).port;
    const waiting = await RawConnection.tcp(port);
    await waiting.hello({ versions: [1], role: 'application' });
    // Within the protocol's in-flight limit (1024) of the waiting application's connection.
    waiting.send(Buffer.concat(Array.from({ length: 1024 }, () =>
      requestFrame(waiting.nextId++, 'get', { queue: 'EMPTY', waitMs: 5_000 }))));
    await sleep(200);
    const other = await RawConnection.tcp(port);
    const started = Date.now();
    const answer = await other.request('hello', { versions: [1], role: 'application' }, 10_000);
    t.equal(answer?.kind, 'reply', `another application is greeted, not starved ` +
      `(${Date.now() - started} ms)`);
    waiting.destroy();
    other.destroy();
  });
