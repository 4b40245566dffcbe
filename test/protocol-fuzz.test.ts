/**
 * Random and mutated frames against live servers (docs/PROTOCOL.md, "What breaks a
 * connection"): the controller's TCP member listener, a raw MessagePort member, and the
 * application listeners of an mq and a jms queue manager. A model of the framing rules,
 * written here from the spec, predicts for every stream sent whether the server must break
 * the connection (one E_BAD_FRAME, then the close) or keep it and answer the valid probe
 * request sent last; every error on the way must carry a documented code, never E_INTERNAL.
 * After each target the committed messages are all there, the controller is mounted, no
 * fuzzing connection is left behind, and an embedded session and a well-behaved client still
 * work. The bugs found have deterministic tests at the end of the file; the generators steer
 * clear of those triggers (maps with a toString key, versions beyond 2^53) so that the
 * properties keep looking for new ones.
 */
import assert from 'node:assert/strict';
import { MessageChannel } from 'node:worker_threads';

import fc from 'fast-check';
import { pack, Unpackr } from 'msgpackr';
import t, { type Test } from 'tap';

import type { Controller } from '../src/index.js';
import { CONTROLLER_ERROR_CODES } from '../src/errors.js';
import {
  HELLO_FRAME_BYTES_MAX,
  KIND_ERROR,
  KIND_REPLY,
  LENGTH_BYTES,
  type Args,
} from '../src/protocol/frames.js';
import { PortTransport } from '../src/protocol/transport.js';
import { defaultMqmd, encodeMqmd } from '../src/qm/mq/mqmd.js';
import {
  ANSWER_WAIT_MS,
  describe,
  framed,
  packValue,
  RawConnection,
  requestFrame,
} from './helpers/frames.js';
import { mountFresh, sleep } from './helpers/mq.js';
import { startQm } from './helpers/qm.js';

const COMMITTED_COUNT = 20;
const SECRET = 'a-secret-of-16-chars';
/** The probe goes last, so its id is the largest a request may have. */
const PROBE_ID = Number.MAX_SAFE_INTEGER;
/** Zeros the model may append to finish a frame a stream left open, so the server decides. */
const PAD_BYTES_MAX = 1024 * 1024;

/** The operations of docs/PROTOCOL.md, copied from its tables rather than from src/. */
const MEMBER_OPS = new Set(['session.open', 'session.close', 'open', 'close', 'put', 'get',
  'browse.open', 'browse.next', 'browse.close', 'commit', 'backout', 'prepare', 'inquire',
  'in-doubt', 'resolve', 'goodbye']);
const APPLICATION_OPS = new Set(['open', 'close', 'commit', 'backout', 'prepare',
  'browse.close', 'inquire', 'put', 'get', 'browse.open', 'browse.next']);

/** Codes a hello may be refused with, after which the connection closes. */
const HELLO_REFUSALS = new Set(['E_PROTOCOL_VERSION', 'E_NOT_AUTHORIZED', 'E_OBJECT_IN_USE',
  'E_INVALID_ARGUMENT', 'E_BUSY', 'E_QM_NOT_AVAILABLE']);
/** Codes a well-formed request may fail with: bad arguments, or what the operation met. */
const REQUEST_CODES = new Set<string>(['E_INVALID_ARGUMENT', 'E_BUSY', 'E_RECORD_TOO_LARGE',
  ...CONTROLLER_ERROR_CODES]);
const DOCUMENTED_CODES = new Set(['E_BAD_FRAME', ...HELLO_REFUSALS, ...REQUEST_CODES]);

// ---------------------------------------------------------------------------------------------
// The model: how a server must read a stream of frames.

/** Decodes as the protocol specifies: maps with string keys, 64-bit integers beyond 2^53 exact. */
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true,
  int64AsType: 'auto' as 'bigint' });

interface ModelState {
  helloDone: boolean;
  lastId: number;
  ops: ReadonlySet<string>;
  /** frameBytesMax of the hello reply. */
  frameBytesMax: number;
}

type Verdict = 'closes' | 'stays' | 'unknown';

/** One frame body: a request the server must serve, a hello, or a protocol violation. */
function classify(body: Uint8Array, state: ModelState): 'ok' | 'hello' | 'bad' {
  let value: unknown;
  try {
    value = unpackr.unpack(body);
  } catch {
    return 'bad';
  }
  if (!Array.isArray(value) || value.length !== 4 || value[0] !== 0) return 'bad';
  const [, id, op, args] = value as unknown[];
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= state.lastId) return 'bad';
  if (typeof op !== 'string' || op.length === 0 || op.length > 64) return 'bad';
  if (typeof args !== 'object' || args === null || Array.isArray(args) ||
    args instanceof Uint8Array) {
    return 'bad';
  }
  state.lastId = id;
  if (!state.helloDone) return op === 'hello' ? 'hello' : 'bad';
  return op !== 'hello' && state.ops.has(op) ? 'ok' : 'bad';
}

interface Prediction {
  /** The stream as sent: what was given, and zeros to finish a frame left open. */
  bytes: Buffer;
  verdict: Verdict | 'incomplete';
}

/**
 * Walks a stream frame by frame as a server must. With `pad`, a frame the stream leaves open
 * is finished with zeros (a server would wait for them), so that every run ends in a verdict.
 */
function predict(stream: Uint8Array, state: ModelState, pad: boolean): Prediction {
  let bytes = Buffer.from(stream);
  let at = 0;
  const padTo = (length: number): boolean => {
    if (!pad || length - bytes.length > PAD_BYTES_MAX) return false;
    bytes = Buffer.concat([bytes, Buffer.alloc(length - bytes.length)]);
    return true;
  };
  for (;;) {
    if (at === bytes.length) return { bytes, verdict: 'stays' };
    if (bytes.length - at < LENGTH_BYTES && !padTo(at + LENGTH_BYTES)) {
      return { bytes, verdict: 'incomplete' };
    }
    const length = bytes.readUInt32BE(at);
    const limit = state.helloDone ? state.frameBytesMax : HELLO_FRAME_BYTES_MAX;
    if (length === 0 || length > limit) return { bytes, verdict: 'closes' };
    const end = at + LENGTH_BYTES + length;
    if (end > bytes.length && !padTo(end)) return { bytes, verdict: 'incomplete' };
    const kind = classify(bytes.subarray(at + LENGTH_BYTES, end), state);
    if (kind === 'bad') return { bytes, verdict: 'closes' };
    if (kind === 'hello') return { bytes, verdict: 'unknown' };
    at = end;
  }
}

// ---------------------------------------------------------------------------------------------
// Checking what came back.

/** Waits until the server has decided: E_BAD_FRAME, the probe answered, a hello answered. */
async function settle(connection: RawConnection, verdict: Verdict): Promise<void> {
  const decided = (): boolean => connection.frames.some((frame) =>
    (frame.kind === KIND_ERROR && frame.error.code === 'E_BAD_FRAME') ||
    ('id' in frame && frame.id === PROBE_ID) ||
    (verdict === 'unknown' && frame.kind === KIND_REPLY));
  await connection.waitFor(decided, ANSWER_WAIT_MS);
  if (connection.codes.includes('E_BAD_FRAME')) await connection.waitClosed();
}

/** The invariants of every run, then what the model predicted. */
function checkOutcome(connection: RawConnection, verdict: Verdict): void {
  const seen = describe(connection);
  assert.deepEqual(connection.malformed, [], `the server sent malformed frames: ${seen}`);
  const codes = connection.codes;
  for (const code of codes) {
    assert.ok(DOCUMENTED_CODES.has(code), `error code ${code} is not a clear error: ${seen}`);
  }
  const badFrames = codes.filter((code) => code === 'E_BAD_FRAME').length;
  assert.ok(badFrames <= 1, `one E_BAD_FRAME at most: ${seen}`);
  const last = connection.frames.at(-1);
  if (badFrames === 1) {
    assert.ok(connection.closed, `the connection closes after E_BAD_FRAME: ${seen}`);
    assert.ok(last?.kind === KIND_ERROR && last.error.code === 'E_BAD_FRAME',
      `nothing follows E_BAD_FRAME: ${seen}`);
  }
  if (connection.closed) {
    assert.ok(last?.kind === KIND_ERROR &&
      (last.error.code === 'E_BAD_FRAME' || HELLO_REFUSALS.has(last.error.code)),
    `a connection closes only after saying why: ${seen}`);
  }
  if (verdict === 'closes') {
    assert.equal(badFrames, 1, `the model expects E_BAD_FRAME and the close: ${seen}`);
  } else if (verdict === 'stays') {
    assert.equal(badFrames, 0, `the model expects no E_BAD_FRAME: ${seen}`);
    assert.ok(!connection.closed, `the model expects the connection to stay: ${seen}`);
    const probe = connection.frames.find((frame) => 'id' in frame && frame.id === PROBE_ID);
    assert.equal(probe?.kind, KIND_REPLY, `the probe after it gets its reply: ${seen}`);
  }
}

/** Sends a stream, waits for the server to decide, checks, and ends the connection. */
async function exchange(connection: RawConnection, stream: Uint8Array, state: ModelState):
Promise<void> {
  const prediction = predict(stream, state, true);
  try {
    fc.pre(prediction.verdict !== 'incomplete');
    const verdict = prediction.verdict as Verdict;
    connection.send(prediction.bytes);
    await settle(connection, verdict);
    checkOutcome(connection, verdict);
  } finally {
    connection.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The servers under test.

interface Target {
  connect(): Promise<RawConnection>;
  /** A hello the server accepts (a new member name each time at the controller). */
  hello(): Args;
  ops: ReadonlySet<string>;
  /** The role a hello must name. */
  role: string;
  /** A request that succeeds at any time and needs no session. */
  probe: [string, Args];
  /** Valid requests to mutate, with the connection's session (members) and browse cursor. */
  bases(session: number, cursor: number): [string, Args][];
  /** Members open a session after the hello; applications have one already. */
  opensSession: boolean;
  /** How many runs each property makes here (queue managers forward to the controller). */
  runs(base: number): number;
}

const bytesOf = (text: string): Buffer => Buffer.from(text, 'utf8');
const PROPERTIES = { colour: ['s', 'red'], size: ['l', 3], ratio: ['d', 0.5], flag: ['b', true],
  none: ['n', null], raw: ['x', bytesOf('raw')] };
const SELECTOR = "colour = 'red' AND size > 2";

function memberBases(session: number, cursor: number): [string, Args][] {
  return [
    ['session.open', {}],
    ['open', { session, queue: 'FZ', input: 'shared' }],
    ['put', { session, queue: 'FZ', syncpoint: true, message: { body: bytesOf('fuzz'),
      priority: 4, persistent: false, expiry: -1, format: 'MQSTR', replyToQueue: 'FZ',
      correlationId: Buffer.alloc(24, 7), properties: PROPERTIES,
      descriptor: { ccsid: 1208, encoding: 546, userId: 'fuzz' } } }],
    ['get', { session, queue: 'FZ', syncpoint: true, waitMs: 0, selector: SELECTOR }],
    ['browse.open', { session, queue: 'Q1', selector: SELECTOR }],
    ['browse.next', { session, cursor, first: true }],
    ['browse.next', { session, cursor }],
    ['browse.close', { session, cursor }],
    ['commit', { session }],
    ['backout', { session }],
    ['prepare', { session, xid: 'fuzz-xid' }],
    ['inquire', { queue: 'Q1' }],
    ['in-doubt', {}],
    ['resolve', { xid: 'fuzz-xid', outcome: 'rollback' }],
    ['session.close', { session }],
    ['goodbye', {}],
  ];
}

const MQMD = encodeMqmd(defaultMqmd(), 'little', 1208);

function applicationBases(personality: 'mq' | 'jms', cursor: number): [string, Args][] {
  const common: [string, Args][] = [
    ['browse.open', { queue: 'Q1', selector: SELECTOR }],
    ['browse.next', { cursor, first: true, convert: true, ccsid: 819 }],
    ['browse.next', { cursor, convert: false }],
    ['browse.close', { cursor }],
    ['open', { queue: 'FZ', input: 'exclusive' }],
    ['close', { queue: 'FZ' }],
    ['commit', {}],
    ['backout', {}],
    ['prepare', { xid: 'fuzz-xid' }],
    ['inquire', { queue: 'Q1' }],
  ];
  if (personality === 'mq') {
    return [...common,
      ['put', { queue: 'FZ', md: MQMD, body: bytesOf('fuzz'), properties: PROPERTIES,
        syncpoint: true }],
      ['get', { queue: 'FZ', syncpoint: true, waitMs: 0, convert: true, ccsid: 819,
        encoding: 273, correlationId: Buffer.alloc(24, 7) }]];
  }
  return [...common,
    ['put', { queue: 'FZ', syncpoint: true, message: { type: 'text', text: 'fuzz',
      properties: PROPERTIES, correlationId: 'fuzz', replyTo: 'queue:///FZ', jmsType: 'fuzz',
      priority: 4, deliveryMode: 'NON_PERSISTENT', timeToLive: 60_000 } }],
    ['put', { queue: 'FZ', syncpoint: true, message: { type: 'map',
      map: { a: ['s', 'b'], n: ['l', 5], d: ['d', 1.5], x: ['x', bytesOf('x')] } } }],
    ['get', { queue: 'FZ', selector: SELECTOR, waitMs: 0, syncpoint: true }]];
}

function memberTarget(connect: () => Promise<RawConnection>, runsFactor: number): Target {
  let counter = 0;
  return {
    connect,
    hello: () => ({ versions: [1], role: 'queue-manager', name: `FUZZ${counter++}`,
      personality: 'mq' }),
    ops: MEMBER_OPS,
    role: 'queue-manager',
    probe: ['in-doubt', {}],
    bases: memberBases,
    opensSession: true,
    runs: (base) => Math.max(5, Math.round(base * runsFactor)),
  };
}

function applicationTarget(port: number, personality: 'mq' | 'jms', runsFactor: number): Target {
  return {
    connect: () => RawConnection.tcp(port),
    hello: () => ({ versions: [1], role: 'application' }),
    ops: APPLICATION_OPS,
    role: 'application',
    probe: ['inquire', { queue: 'Q1' }],
    bases: (_session, cursor) => applicationBases(personality, cursor),
    opensSession: false,
    runs: (base) => Math.max(5, Math.round(base * runsFactor)),
  };
}

/** A new connection past its hello, with a session (members open one) and a browse cursor. */
async function ready(target: Target): Promise<{ connection: RawConnection; state: ModelState;
  session: number; cursor: number; }> {
  const connection = await target.connect();
  let reply: Args;
  let session = 0;
  let cursor = 0;
  try {
    reply = await connection.hello(target.hello());
    if (target.opensSession) {
      const opened = await connection.request('session.open', {});
      session = (opened?.result as { session: number }).session;
    }
    const browse = await connection.request('browse.open', target.opensSession
      ? { session, queue: 'Q1' } : { queue: 'Q1' });
    cursor = (browse?.result as { cursor: number }).cursor;
  } catch (error) {
    connection.destroy();
    throw error;
  }
  const state: ModelState = { helloDone: true, lastId: connection.nextId - 1, ops: target.ops,
    frameBytesMax: reply['frameBytesMax'] as number };
  return { connection, state, session, cursor };
}

function freshState(target: Target): ModelState {
  return { helloDone: false, lastId: 0, ops: target.ops, frameBytesMax: 0 };
}

function probeFrame(target: Target): Buffer {
  return requestFrame(PROBE_ID, target.probe[0], target.probe[1]);
}

// ---------------------------------------------------------------------------------------------
// Generators.

/**
 * Values the generators may send: never the name of the queue holding the committed messages
 * (consuming them would be a correct get, not a bug), and never a map with its own toString
 * or valueOf key (a known bug with its own test below).
 */
function harmless(value: unknown, depth = 0): boolean {
  if (value === 'Q1') return false;
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return true;
  if (depth > 8) return false;
  if (!Array.isArray(value) && (Object.hasOwn(value, 'toString') ||
    Object.hasOwn(value, 'valueOf'))) {
    return false;
  }
  return Object.values(value).every((item) => harmless(item, depth + 1));
}

const anyValue = fc.anything({ maxDepth: 2, maxKeys: 4, withNullPrototype: false });
const ARG_NAMES = ['session', 'queue', 'input', 'message', 'syncpoint', 'waitMs', 'messageId',
  'correlationId', 'selector', 'cursor', 'first', 'xid', 'outcome', 'md', 'body', 'properties',
  'convert', 'ccsid', 'encoding', 'versions', 'protocol', 'role', 'name', 'personality'];
const argValue = fc.oneof(
  fc.constantFrom('FZ', 'NOPE', 1, 0, -1, 2, true, false, null, 'shared', 'exclusive',
    'commit', 'rollback', 'queue-manager', 'application', 'mq', 'jms', [1], [2]),
  anyValue,
);
const argsValue = fc.dictionary(fc.oneof(fc.constantFrom(...ARG_NAMES), fc.string({
  maxLength: 8 })), argValue, { maxKeys: 5 });

/** The [kind, id, op, args] of a frame, its id given relative to the last one or outright. */
interface Shape {
  kind: unknown;
  id: { delta: number } | { value: unknown };
  op: unknown;
  args: unknown;
  arity: number;
}

function shapes(ops: ReadonlySet<string>): fc.Arbitrary<Shape> {
  return fc.record({
    kind: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(0, 0, 0, 1, 2, 3) },
      fc.integer({ min: -2, max: 300 }), fc.constantFrom('0', null, 0.5)),
    id: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -2, max: 3 }).map((delta) =>
      ({ delta })) }, fc.constantFrom(0, -1, 1.5, 'x', null, 2 ** 53, PROBE_ID)
      .map((value) => ({ value }))),
    op: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...ops, 'hello') },
      fc.string({ maxLength: 70 }), anyValue),
    args: fc.oneof({ weight: 6, arbitrary: argsValue }, anyValue),
    arity: fc.constantFrom(4, 4, 4, 4, 3, 5),
  }).filter((shape) => harmless(shape.op) && harmless(shape.args));
}

/** The frame bytes of shapes, ids counted on from `lastId`. */
function shapeBytes(list: Shape[], lastId: number): Buffer {
  let id = lastId;
  return Buffer.concat(list.map((shape) => {
    const value = 'delta' in shape.id ? (id += shape.id.delta) : shape.id.value;
    const items = [shape.kind, value, shape.op, shape.args, 'extra'].slice(0, shape.arity);
    return framed(packValue(items));
  }));
}

type ByteMutation =
  | { kind: 'set'; at: number; value: number }
  | { kind: 'bit'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat(255) }),
  fc.record({ kind: fc.constant('bit' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);

function mutateBytes(body: Buffer, mutations: ByteMutation[]): Buffer {
  let bytes = Buffer.from(body);
  for (const mutation of mutations) {
    const at = bytes.length === 0 ? 0 : mutation.at % bytes.length;
    switch (mutation.kind) {
      case 'set': if (bytes.length > 0) bytes[at] = mutation.value; break;
      case 'bit': if (bytes.length > 0) bytes[at] = (bytes[at] ?? 0) ^ (1 << mutation.bit); break;
      case 'truncate': bytes = bytes.subarray(0, at); break;
      case 'insert':
        bytes = Buffer.concat([bytes.subarray(0, at), mutation.bytes, bytes.subarray(at)]);
        break;
    }
  }
  return bytes;
}

const REMOVE = Symbol('remove');
const LONG_MAX = 2n ** 63n - 1n;
/** Values of the wrong type, out of range, or malformed typed values, for any field. */
const badValue = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, -(2 ** 53) + 1,
    1.5, Number.NaN, Number.POSITIVE_INFINITY, '', 'FZ', 'x'.repeat(300), 86_400_001,
    2n ** 53n + 1n, -LONG_MAX, [], {}),
  fc.integer(), fc.double(), fc.string({ maxLength: 80 }), fc.uint8Array({ maxLength: 40 }),
  fc.tuple(fc.oneof(fc.constantFrom('n', 'b', 'd', 'l', 's', 'x'), fc.string({ maxLength: 2 })),
    anyValue),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.tuple(fc.constantFrom('n', 'b', 'd', 'l', 's',
    'x', 'z'), anyValue), { maxKeys: 3 }),
  anyValue,
).filter((value) => harmless(value));

interface FieldChange {
  path: number;
  value: unknown;
}

const fieldChanges = fc.array(fc.record({ path: fc.nat(),
  value: fc.oneof({ weight: 1, arbitrary: fc.constant<unknown>(REMOVE) },
    { weight: 6, arbitrary: badValue }) }), { minLength: 1, maxLength: 3 });

function isMap(value: unknown): value is Args {
  return typeof value === 'object' && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

/** Every field of a request's arguments (two levels deep), and one each level lacks. */
function fieldPaths(args: Args, prefix: string[] = []): string[][] {
  const paths = [[...prefix, 'unexpected']];
  for (const [key, value] of Object.entries(args)) {
    paths.push([...prefix, key]);
    if (isMap(value) && prefix.length < 2) paths.push(...fieldPaths(value, [...prefix, key]));
  }
  return paths;
}

function changeField(args: Args, path: string[], value: unknown): Args {
  const copy: Args = { ...args };
  const [key, ...rest] = path as [string, ...string[]];
  if (rest.length > 0 && isMap(copy[key])) copy[key] = changeField(copy[key], rest, value);
  else if (value === REMOVE) delete copy[key];
  else copy[key] = value;
  return copy;
}

// ---------------------------------------------------------------------------------------------
// The properties, each run against a target.

async function randomBytesBeforeHello(t: Test, target: Target): Promise<void> {
  const stream = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 256 }),
    fc.uint8Array({ minLength: 1, maxLength: 256 }).map((body) => framed(body)),
  );
  await fc.assert(fc.asyncProperty(stream, async (bytes) => {
    await exchange(await target.connect(), bytes, freshState(target));
  }), { numRuns: target.runs(250) });
  t.pass('random bytes, with and without a valid length, break the connection');
}

async function randomValuesBeforeHello(t: Test, target: Target): Promise<void> {
  const stream = fc.oneof(anyValue.map((value) => framed(pack(value))),
    shapes(target.ops).map((shape) => shapeBytes([shape], 0)));
  await fc.assert(fc.asyncProperty(stream, async (bytes) => {
    await exchange(await target.connect(), bytes, freshState(target));
  }), { numRuns: target.runs(250) });
  t.pass('random MessagePack values and frame shapes before the hello are answered clearly');
}

async function randomFramesAfterHello(t: Test, target: Target): Promise<void> {
  const frames = fc.oneof(
    fc.array(shapes(target.ops), { minLength: 1, maxLength: 4 }).map((list) => ({ list })),
    anyValue.filter((value) => harmless(value)).map((value) => ({ value: pack(value) })),
  );
  await fc.assert(fc.asyncProperty(frames, async (frames) => {
    const { connection, state } = await ready(target);
    const bytes = 'list' in frames ? shapeBytes(frames.list, state.lastId)
      : framed(frames.value);
    await exchange(connection, Buffer.concat([bytes, probeFrame(target)]), state);
  }), { numRuns: target.runs(400) });
  t.pass('random frames after the hello: the model predicts each close and each answer');
}

async function mutatedBytes(t: Test, target: Target): Promise<void> {
  const cases = fc.record({ base: fc.nat(), mutations: fc.array(byteMutation,
    { minLength: 1, maxLength: 4 }), lengthDelta: fc.oneof({ weight: 4,
    arbitrary: fc.constant(0) }, fc.integer({ min: -8, max: 8 })) });
  await fc.assert(fc.asyncProperty(cases, async ({ base, mutations, lengthDelta }) => {
    const { connection, state, session, cursor } = await ready(target);
    const bases = target.bases(session, cursor);
    const [op, args] = bases[base % bases.length] as [string, Args];
    const body = mutateBytes(packValue([0, state.lastId + 1, op, args]), mutations);
    const frame = framed(body, Math.max(0, body.length + lengthDelta));
    await exchange(connection, Buffer.concat([frame, probeFrame(target)]), state);
  }), { numRuns: target.runs(500) });
  t.pass('valid requests with flipped, cut, inserted bytes and wrong lengths');
}

async function mutatedArguments(t: Test, target: Target): Promise<void> {
  const cases = fc.record({ base: fc.nat(), changes: fieldChanges });
  await fc.assert(fc.asyncProperty(cases, async ({ base, changes }) => {
    const { connection, state, session, cursor } = await ready(target);
    const bases = target.bases(session, cursor);
    const [op, valid] = bases[base % bases.length] as [string, Args];
    const args = changes.reduce((current: Args, change: FieldChange) => {
      const paths = fieldPaths(current);
      return changeField(current, paths[change.path % paths.length] as string[], change.value);
    }, valid);
    const id = state.lastId + 1;
    const stream = Buffer.concat([requestFrame(id, op, args), probeFrame(target)]);
    try {
      await exchange(connection, stream, state);
      const answer = connection.frames.find((frame) => 'id' in frame && frame.id === id);
      if (answer?.kind === KIND_ERROR) {
        assert.ok(REQUEST_CODES.has(answer.error.code),
          `${op} with wrong arguments fails with ${answer.error.code}: ${describe(connection)}`);
      }
    } finally {
      connection.destroy();
    }
  }), { numRuns: target.runs(500) });
  t.pass('valid requests with fields of the wrong type, range or shape get ordinary errors');
}

async function oversizedFrames(t: Test, target: Target): Promise<void> {
  await fc.assert(fc.asyncProperty(fc.boolean(), fc.nat(), fc.uint8Array({ maxLength: 32 }),
    async (afterHello, excess, tail) => {
      const { connection, state } = afterHello ? await ready(target)
        : { connection: await target.connect(), state: freshState(target) };
      const limit = afterHello ? state.frameBytesMax : HELLO_FRAME_BYTES_MAX;
      const length = Math.min(0xffff_ffff, limit + 1 + excess);
      await exchange(connection, framed(tail, length), state);
    }), { numRuns: target.runs(30) });
  t.pass('a length beyond the limit, before and after the hello, breaks the connection');
}

/** Sends one hello and checks it is refused with `code`, and the connection then closes. */
async function refusedHello(target: Target, args: Args, code: string): Promise<void> {
  const connection = await target.connect();
  try {
    const answer = await connection.request('hello', args);
    await connection.waitClosed();
    assert.equal(answer?.code, code, `hello ${JSON.stringify(args)}: ${describe(connection)}`);
    assert.ok(connection.closed, `a refused hello closes the connection: ${describe(connection)}`);
    if (code === 'E_PROTOCOL_VERSION') {
      assert.equal((answer?.result as { details: Args }).details['supported'], '1');
    }
  } finally {
    connection.destroy();
  }
}

const notOne = fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 4 }), fc.boolean(),
  fc.constant(null)).filter((value) => value !== 1);

async function refusedHellos(t: Test, target: Target): Promise<void> {
  const offer = fc.oneof(fc.record({ versions: fc.array(notOne, { maxLength: 4 }) }),
    fc.record({ protocol: notOne }), fc.constant({}));
  await fc.assert(fc.asyncProperty(offer, async (versions) => {
    const hello = target.hello();
    delete hello['versions'];
    await refusedHello(target, { ...hello, ...versions }, 'E_PROTOCOL_VERSION');
  }), { numRuns: target.runs(30) });
  const role = fc.oneof(fc.string({ maxLength: 16 }), anyValue).filter((value) =>
    value !== target.role && harmless(value));
  await fc.assert(fc.asyncProperty(role, async (role) => {
    await refusedHello(target, { ...target.hello(), role }, 'E_NOT_AUTHORIZED');
  }), { numRuns: target.runs(30) });
  t.pass('hellos without a common version, or naming the wrong role, are refused');
}

/** Every property above, against one target. */
async function fuzzTarget(t: Test, target: Target): Promise<void> {
  await t.test('random bytes before the hello', (t) => randomBytesBeforeHello(t, target));
  await t.test('random values and shapes before the hello',
    (t) => randomValuesBeforeHello(t, target));
  await t.test('random frames after the hello', (t) => randomFramesAfterHello(t, target));
  await t.test('mutated bytes of valid requests', (t) => mutatedBytes(t, target));
  await t.test('mutated arguments of valid requests', (t) => mutatedArguments(t, target));
  await t.test('oversized length prefixes', (t) => oversizedFrames(t, target));
  await t.test('refused hellos', (t) => refusedHellos(t, target));
}

// ---------------------------------------------------------------------------------------------
// Committed data, and what must still work afterwards.

/** Queues for the fuzz (FZ), for the checks (CHECK), and Q1 holding committed messages. */
async function seed(controller: Controller): Promise<string[]> {
  await controller.defineQueue('Q1', { defaultPersistent: true });
  await controller.defineQueue('FZ');
  await controller.defineQueue('CHECK');
  await controller.defineQueue('MQMD');
  const session = controller.session();
  const bodies = Array.from({ length: COMMITTED_COUNT }, (_, i) => `committed ${i}`);
  try {
    for (const body of bodies) await session.put('Q1', { body }, { syncpoint: false });
  } finally {
    await session.close();
  }
  return bodies;
}

async function checkIntact(t: Test, controller: Controller, bodies: string[],
  members: string[]): Promise<void> {
  t.ok(controller.mounted, 'the controller is still mounted');
  const session = controller.session();
  try {
    const cursor = session.browse('Q1');
    const seen: string[] = [];
    for (let i = 0; i <= COMMITTED_COUNT; i++) {
      try {
        const message = i === 0 ? await cursor.first() : await cursor.next();
        seen.push(message.body.toString());
        t.ok(message.persistent, 'a committed message is still persistent');
      } catch (error) {
        if ((error as { code?: string }).code !== 'E_NO_MSG') throw error;
        break;
      }
    }
    t.same(seen, bodies, 'every committed message is there, in order');
    await session.put('CHECK', { body: 'embedded' });
    t.equal((await session.get('CHECK')).body.toString(), 'embedded',
      'an embedded session still puts and gets');
  } finally {
    await session.close();
  }
  const left = (): string[] => controller.members.members().map((member) => member.name).sort();
  for (let i = 0; i < 40 && left().join() !== members.join(); i++) await sleep(50);
  t.same(left(), members, 'no fuzzing member is left connected');
}

/** A member that says hello and puts and gets, as a queue manager would. */
async function checkMember(t: Test, connection: RawConnection): Promise<void> {
  try {
    await connection.hello({ versions: [1], role: 'queue-manager', name: 'LEGIT',
      personality: 'mq' });
    const opened = await connection.request('session.open', {});
    const session = (opened?.result as { session: number }).session;
    const put = await connection.request('put', { session, queue: 'CHECK',
      message: { body: bytesOf('member') } });
    t.equal(put?.kind, 'reply', 'a legitimate member puts');
    const got = await connection.request('get', { session, queue: 'CHECK' });
    t.equal(Buffer.from((got?.result as Args)['body'] as Uint8Array).toString(), 'member',
      'a legitimate member gets');
  } finally {
    connection.destroy();
  }
}

async function checkApplication(t: Test, port: number, personality: 'mq' | 'jms'):
Promise<void> {
  const connection = await RawConnection.tcp(port);
  try {
    await connection.hello({ versions: [1], role: 'application' });
    const put = await connection.request('put', personality === 'mq'
      ? { queue: 'CHECK', md: MQMD, body: bytesOf('application') }
      : { queue: 'CHECK', message: { type: 'bytes', bytes: bytesOf('application') } });
    t.equal(put?.kind, 'reply', `a legitimate ${personality} application puts`);
    const got = await connection.request('get', { queue: 'CHECK' });
    const result = got?.result as Args;
    const body = personality === 'mq' ? result['body'] : result['bytes'];
    t.equal(Buffer.from(body as Uint8Array).toString(), 'application',
      `a legitimate ${personality} application gets`);
  } finally {
    connection.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// The targets.

t.test('the controller\'s TCP member listener survives random and mutated frames', async (t) => {
  const { controller } = await mountFresh(t);
  const bodies = await seed(controller);
  const listener = await controller.listen({ port: 0 });
  const target = memberTarget(() => RawConnection.tcp(listener.port), 1);
  await fuzzTarget(t, target);

  await t.test('a member may have every application\'s requests in flight', async (t) => {
    const connection = await RawConnection.tcp(listener.port);
    const reply = await connection.hello({ versions: [1], role: 'queue-manager',
      name: 'LIMITS', personality: 'mq' });
    t.equal(reply['inFlightMax'], 1024 * 1024, '1024 in flight for each of 1024 applications');
    connection.destroy();
  });

  await t.test('a listener with a secret refuses hellos without it', async (t) => {
    const guarded = await controller.listen({ port: 0, secret: SECRET });
    const secretTarget = memberTarget(() => RawConnection.tcp(guarded.port), 1);
    const wrong = fc.oneof(fc.string({ maxLength: 40 }), anyValue)
      .filter((value) => value !== SECRET && harmless(value));
    await fc.assert(fc.asyncProperty(wrong, async (secret) => {
      await refusedHello(secretTarget, { ...secretTarget.hello(), secret }, 'E_NOT_AUTHORIZED');
    }), { numRuns: 40 });
    await refusedHello(secretTarget, secretTarget.hello(), 'E_NOT_AUTHORIZED');
    const connection = await RawConnection.tcp(guarded.port);
    await connection.hello({ ...secretTarget.hello(), secret: SECRET });
    t.pass('the right secret is accepted');
    connection.destroy();
    await guarded.close();
  });

  await checkIntact(t, controller, bodies, []);
  await checkMember(t, await RawConnection.tcp(listener.port));
});

/** What a test may post on a port: buffers of frames and anything else. */
const posted = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 64 }),
  anyValue.map((value) => new Uint8Array(framed(pack(value)))),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => bytes.buffer),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => new DataView(bytes.buffer)),
  fc.int16Array({ maxLength: 8 }), fc.float64Array({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }).map((bytes) => new Uint8ClampedArray(bytes)),
  fc.integer(), fc.double(), fc.string(), fc.bigInt(), fc.date(), fc.constant(undefined),
  anyValue, fc.uint8Array({ maxLength: 8 }).map((bytes) => new Map([['bytes', bytes]])),
);

/**
 * Posts everything, then null, so that the server must decide; predicts from the bytes
 * before the first value that is not bytes (that value breaks the connection, if nothing
 * before it did).
 */
function postAll(connection: RawConnection, posts: unknown[], state: ModelState): Verdict {
  const chunks: Uint8Array[] = [];
  let other = false;
  for (const value of [...posts, null]) {
    connection.post(value);
    if (other) continue;
    if (value instanceof Uint8Array) chunks.push(value);
    else if (value instanceof ArrayBuffer) chunks.push(new Uint8Array(value));
    else other = true;
  }
  const { verdict } = predict(Buffer.concat(chunks), state, false);
  return verdict === 'unknown' ? 'unknown' : 'closes';
}

t.test('a raw MessagePort member survives garbage posts and mutated frames', async (t) => {
  const { controller } = await mountFresh(t);
  const bodies = await seed(controller);
  const connectPort = (): RawConnection => {
    const { port1, port2 } = new MessageChannel();
    controller.attachMember(new PortTransport(port1, 'fuzz'));
    return RawConnection.port(port2);
  };
  const target = memberTarget(async () => connectPort(), 0.5);

  await t.test('values that are not buffers of frames break the connection', async (t) => {
    await fc.assert(fc.asyncProperty(fc.array(posted, { minLength: 1, maxLength: 4 }),
      async (posts) => {
        const connection = connectPort();
        try {
          const verdict = postAll(connection, posts, freshState(target));
          await settle(connection, verdict);
          checkOutcome(connection, verdict);
        } finally {
          connection.destroy();
        }
      }), { numRuns: 400 });
    t.pass('numbers, strings, objects, typed arrays and bytes posted in any mix');
  });
  await fuzzTarget(t, target);

  await checkIntact(t, controller, bodies, []);
  await checkMember(t, connectPort());
});

/**
 * MQMDs with random bytes after StrucId and Version: a put that is refused stores nothing,
 * and a put that is taken can be gotten back, converted or not.
 */
async function randomMqmds(t: Test, controller: Controller, port: number): Promise<void> {
  const connection = await RawConnection.tcp(port);
  await connection.hello({ versions: [1], role: 'application' });
  const depth = (): number => controller.queue('MQMD').depth;
  const changes = fc.array(fc.record({ at: fc.integer({ min: 8, max: MQMD.length - 1 }),
    value: fc.nat(255) }), { minLength: 1, maxLength: 6 });
  try {
    await fc.assert(fc.asyncProperty(changes, fc.boolean(), async (changes, convert) => {
      const md = Buffer.from(MQMD);
      for (const { at, value } of changes) md[at] = value;
      const before = depth();
      const put = await connection.request('put', { queue: 'MQMD', md, body: bytesOf('md') });
      if (put?.kind === 'error') {
        assert.ok(REQUEST_CODES.has(put.code ?? ''), `put: ${describe(connection)}`);
        assert.equal(depth(), before, `a refused put stores nothing: ${describe(connection)}`);
        return;
      }
      const got = await connection.request('get', { queue: 'MQMD', convert });
      assert.equal(got?.kind, 'reply', `a message put can be gotten: ${describe(connection)}`);
    }), { numRuns: 200 });
  } finally {
    connection.destroy();
  }
  t.pass('random MQMD fields are refused cleanly or round-trip');
}

t.test('the application listeners of mq and jms queue managers survive random frames',
  async (t) => {
    const { controller } = await mountFresh(t);
    const bodies = await seed(controller);
    const mq = await startQm(t, controller, { name: 'QM1', personality: 'mq',
      listen: { port: 0 } });
    const jms = await startQm(t, controller, { name: 'QM2', personality: 'jms',
      listen: { port: 0 } });
    const mqPort = (mq.address as { port: number }).port;
    const jmsPort = (jms.address as { port: number }).port;
    await t.test('mq', (t) => fuzzTarget(t, applicationTarget(mqPort, 'mq', 0.5)));
    await t.test('mq puts of MQMDs with random field bytes', (t) => randomMqmds(t, controller,
      mqPort));
    await t.test('jms', (t) => fuzzTarget(t, applicationTarget(jmsPort, 'jms', 0.3)));
    await t.test('more requests in flight than the hello allows break the connection',
      async (t) => {
        const connection = await RawConnection.tcp(jmsPort);
        const reply = await connection.hello({ versions: [1], role: 'application' });
        t.equal(reply['inFlightMax'], 1024);
        const gets = Array.from({ length: 1025 }, () => requestFrame(connection.nextId++, 'get',
          { queue: 'FZ', waitMs: 10_000 }));
        connection.send(Buffer.concat(gets));
        t.ok(await connection.waitClosed(), 'the connection closes');
        t.same(connection.codes, ['E_BAD_FRAME'], describe(connection));
        connection.destroy();
      });

    await checkIntact(t, controller, bodies, ['QM1', 'QM2']);
    t.ok(mq.running && jms.running, 'both queue managers still run');
    await checkApplication(t, mqPort, 'mq');
    await checkApplication(t, jmsPort, 'jms');
  });
