/**
 * The protocol's endpoints on their own, over a MessageChannel: requests are pipelined and
 * started in the order sent, answers are matched by id whatever their order, the in-flight
 * limit the server announces is kept by the client (which holds the rest back), frames of
 * one turn leave in one batch whose buffer is transferred (moved, not copied), and the hello
 * is negotiated and enforced.
 */
import { MessageChannel } from 'node:worker_threads';

import t from 'tap';

import { SanmqError } from '../src/errors.js';
import { ClientEndpoint, ServerEndpoint, type Accepted } from '../src/protocol/endpoint.js';
import { FrameBatch, FrameReader, packFrame, unpackFrame, KIND_REQUEST } from '../src/protocol/frames.js';
import { BATCH_FRAMES_MAX, PortTransport } from '../src/protocol/transport.js';
import { checkVersion } from '../src/controller/members.js';
import { errorOf } from './helpers/mq.js';

interface Harness {
  client: ClientEndpoint;
  server: () => ServerEndpoint;
  started: number[];
  inFlightSeen: () => number;
  posts: () => number;
}

function harness(t: { teardown(fn: () => void): void }, inFlightMax: number,
  handle: (op: string, args: Record<string, unknown>) => unknown): Harness {
  const { port1, port2 } = new MessageChannel();
  const started: number[] = [];
  let inFlight = 0;
  let inFlightMax_ = 0;
  let posts = 0;
  port1.on('message', () => posts++);
  const accepted: Accepted = {
    result: { protocol: 1, frameBytesMax: 1 << 20, inFlightMax },
    handler: (op, args) => {
      started.push(args['n'] as number);
      inFlight++;
      inFlightMax_ = Math.max(inFlightMax_, inFlight);
      const result = Promise.resolve(handle(op, args));
      return result.finally(() => inFlight--);
    },
    ops: new Set(['echo', 'fail']),
    frameBytesMax: 1 << 20,
    inFlightMax,
  };
  const server = new ServerEndpoint(new PortTransport(port1, 'client'), {
    helloTimeoutMs: 5_000,
    hello: (args) => {
      checkVersion(args);
      return accepted;
    },
  });
  const client = new ClientEndpoint(new PortTransport(port2, 'server'), 1 << 20);
  t.teardown(() => {
    client.destroy();
    server.destroy();
  });
  return { client, server: () => server, started, inFlightSeen: () => inFlightMax_,
    posts: () => posts };
}

t.test('pipelined requests start in order and each gets its own answer', async (t) => {
  const h = harness(t, 8, async (_op, args) => {
    // Answers come back out of order: later requests finish first, some of the time.
    await new Promise((resolve) => setTimeout(resolve, (args['n'] as number) % 3));
    return { n: args['n'] };
  });
  await h.client.hello({ versions: [1] });
  const count = 2_000;
  const replies = await Promise.all(Array.from({ length: count },
    (_, n) => h.client.request('echo', { n })));
  t.same(replies.map((r) => (r as { n: number }).n), Array.from({ length: count }, (_, n) => n));
  t.same(h.started, Array.from({ length: count }, (_, n) => n), 'started in the order sent');
  t.ok(h.inFlightSeen() <= 8, `never more than 8 in flight (saw ${h.inFlightSeen()})`);
  t.ok(h.inFlightSeen() > 1, 'more than one in flight: pipelined');
});

t.test('an error answers its own request and the connection goes on', async (t) => {
  const h = harness(t, 4, (op, args) => {
    if (op === 'fail') throw new SanmqError('E_NO_MSG', 'nothing here', { queue: 'Q' });
    return args['n'];
  });
  await h.client.hello({ protocol: 1 });
  const [a, b, c] = await Promise.allSettled([h.client.request('echo', { n: 1 }),
    h.client.request('fail', { n: 2 }), h.client.request('echo', { n: 3 })]);
  t.same(a, { status: 'fulfilled', value: 1 });
  t.equal(b.status === 'rejected' ? (b.reason as SanmqError).code : '', 'E_NO_MSG');
  t.same(b.status === 'rejected' ? (b.reason as SanmqError).details : {}, { queue: 'Q' });
  t.same(c, { status: 'fulfilled', value: 3 });
});

t.test('frames of one turn leave in transferred batches of BATCH_FRAMES_MAX', async (t) => {
  const h = harness(t, 1024, (_op, args) => args['n']);
  await h.client.hello({ versions: [1] });
  const before = h.posts();
  await Promise.all(Array.from({ length: 100 }, (_, n) => h.client.request('echo', { n })));
  // A batch leaves when it holds BATCH_FRAMES_MAX frames, the rest at the end of the turn.
  const most = Math.ceil(100 / BATCH_FRAMES_MAX) + 2;
  t.ok(h.posts() - before <= most,
    `100 requests arrived in ${h.posts() - before} port messages (at most ${most})`);

  const { port1, port2 } = new MessageChannel();
  t.teardown(() => port1.close());
  const batch = new FrameBatch();
  batch.add(packFrame({ kind: KIND_REQUEST, id: 1, op: 'x', args: {} }));
  const bytes = batch.bytes();
  new PortTransport(port1, 'peer').send(bytes);
  t.equal(bytes.byteLength, 0, 'the sender no longer holds the buffer: it was moved');
  const received = await new Promise<Uint8Array>((resolve) => port2.once('message', resolve));
  port2.close();
  const frames: unknown[] = [];
  new FrameReader(1024).push(received, (body) => frames.push(unpackFrame(body)));
  t.match(frames, [{ kind: KIND_REQUEST, id: 1, op: 'x' }]);
});

t.test('a hello offering no version spoken here is refused with E_PROTOCOL_VERSION', async (t) => {
  const h = harness(t, 4, () => null);
  const error = await errorOf(() => h.client.hello({ versions: [7, 8] }));
  t.equal(error.code, 'E_PROTOCOL_VERSION');
  t.equal(error.details['supported'], '1');
  await new Promise((resolve) => setTimeout(resolve, 50));
  t.ok(h.client.isClosed, 'the connection closed');
});

t.test('a request made before the hello waits for the hello\'s reply', async (t) => {
  const h = harness(t, 4, (_op, args) => args['n']);
  const early = h.client.request('echo', { n: 5 });
  await h.client.hello({ versions: [1] });
  t.equal(await early, 5, 'a request made before the hello waited for its reply');
});

t.test('a limit of frame bytes is enforced on both sides', async (t) => {
  const reader = new FrameReader(16);
  const error = await errorOf(() => reader.push(Buffer.from([0, 0, 0, 17]), () => undefined));
  t.equal(error.code, 'E_BAD_FRAME');
  t.match(error.message, /17 bytes exceeds the limit of 16/);
  const split: Uint8Array[] = [];
  const whole = new FrameReader(16);
  whole.push(Buffer.from([0, 0, 0, 3, 1]), (body) => split.push(body));
  whole.push(Buffer.from([2, 3, 0, 0]), (body) => split.push(body));
  t.equal(whole.pendingBytes, 2, 'half a length waits for the rest');
  whole.push(Buffer.from([0, 1, 9]), (body) => split.push(body));
  t.same(split.map((b) => [...b]), [[1, 2, 3], [9]], 'frames cut across chunks are joined');
});
