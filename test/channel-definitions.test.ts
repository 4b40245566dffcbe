/**
 * Channel definitions live in the controller's catalog: they survive remounts and
 * compaction, follow MQSC's DEFINE / ALTER / DELETE rules, refuse bad attributes with
 * E_INVALID_ARGUMENT, and each holds a status slot of its own, emptied when it is assigned.
 */
import t from 'tap';

import { applyChannelAttributes, parseConnection } from '../src/channels/definition.js';
import { errorOf, mountFresh } from './helpers/mq.js';

const sender = { type: 'sender', transmissionQueue: 'XQ', connection: '127.0.0.1:1414' } as const;

t.test('definitions, alterations and deletions survive a remount', async (t) => {
  const mounted = await mountFresh(t);
  let controller = mounted.controller;
  const a = await controller.defineChannel('TO.A', { ...sender, batchSize: 7, description: 'to A' });
  const b = await controller.defineChannel('FROM.B', { type: 'receiver', remoteQueueManager: 'QMB' });
  await controller.defineChannel('GONE', sender);
  t.match(a, { name: 'TO.A', type: 'sender', batchSize: 7, heartbeatSeconds: 300, shortRetryCount: 10 });
  await controller.alterChannel('TO.A', { batchSize: 9, connection: 'host.example:2000' });
  await controller.deleteChannel('GONE');
  controller = await mounted.remount();
  t.same(controller.channelList().map((c) => c.name), ['FROM.B', 'TO.A']);
  t.match(controller.channel('TO.A'), { batchSize: 9, connection: 'host.example:2000', description: 'to A',
    statusSlot: a.statusSlot });
  t.match(controller.channel('FROM.B'), { type: 'receiver', remoteQueueManager: 'QMB', statusSlot: b.statusSlot });
  t.equal((await errorOf(() => controller.channel('GONE'))).code, 'E_UNKNOWN_CHANNEL');
});

t.test('DEFINE refuses an existing name unless replace, which resets what is not given', async (t) => {
  const { controller } = await mountFresh(t);
  const first = await controller.defineChannel('C', { ...sender, batchSize: 3 });
  t.equal((await errorOf(() => controller.defineChannel('C', sender))).code, 'E_CHANNEL_EXISTS');
  const again = await controller.defineChannel('C', sender, { replace: true });
  t.equal(again.batchSize, 50, 'back to the default');
  t.equal(again.statusSlot, first.statusSlot, 'the same status slot');
  t.equal((await errorOf(() => controller.alterChannel('NONE', {}))).code, 'E_UNKNOWN_CHANNEL');
  t.equal((await errorOf(() => controller.deleteChannel('NONE'))).code, 'E_UNKNOWN_CHANNEL');
});

t.test('bad attributes are refused with E_INVALID_ARGUMENT and a message naming them', async (t) => {
  const { controller } = await mountFresh(t);
  const cases: Array<[string, unknown, RegExp]> = [
    ['sender without a transmission queue', { type: 'sender', connection: 'h:1' }, /transmissionQueue/],
    ['sender without a connection', { type: 'sender', transmissionQueue: 'XQ' }, /connection/],
    ['a connection without a port', { ...sender, connection: 'localhost' }, /host:port/],
    ['port 0', { ...sender, connection: 'localhost:0' }, /port from 1/],
    ['receiver with a transmission queue', { type: 'receiver', transmissionQueue: 'XQ' }, /receiver/],
    ['an unknown attribute', { ...sender, speed: 3 }, /unknown channel attribute 'speed'/],
    ['no type', { transmissionQueue: 'XQ' }, /type/],
    ['a batch size of 0', { ...sender, batchSize: 0 }, /batchSize/],
    ['a bad transmission queue name', { ...sender, transmissionQueue: 'bad name' }, /transmissionQueue/],
  ];
  for (const [what, attributes, message] of cases) {
    const error = await errorOf(() => controller.defineChannel('C', attributes as typeof sender));
    t.equal(error.code, 'E_INVALID_ARGUMENT', what);
    t.match(error.message, message, what);
  }
  t.equal((await errorOf(() => controller.defineChannel('bad name', sender))).code, 'E_INVALID_ARGUMENT');
  t.same(controller.channelList(), [], 'nothing was defined');
  t.same(parseConnection('[::1]:1414'), { host: '::1', port: 1414 });
  t.throws(() => applyChannelAttributes({ ...sender, batchSize: 1, heartbeatSeconds: 0,
    shortRetryCount: 0, shortRetryMs: 10, longRetryCount: 0, longRetryMs: 10, description: '',
    remoteQueueManager: '' }, { type: 'receiver' }), /receiver channel has no/);
});

t.test('each channel gets the lowest free status slot, emptied, and a deleted one is reused', async (t) => {
  const { controller } = await mountFresh(t);
  const slots = controller.lun.slots;
  const stale = Buffer.alloc(slots.slotBytes, 0x5a);
  t.ok(await slots.cas(1, await slots.read(1), stale), 'slot 1 holds something beforehand');
  const a = await controller.defineChannel('A', sender);
  const b = await controller.defineChannel('B', sender);
  t.same([a.statusSlot, b.statusSlot], [0, 1]);
  t.ok((await slots.read(1)).every((byte) => byte === 0), 'the slot was emptied when B got it');
  await controller.deleteChannel('A');
  const c = await controller.defineChannel('C', sender);
  t.equal(c.statusSlot, 0, 'the slot A left is reused');
});

t.test('the catalog keeps channel definitions through compaction', async (t) => {
  const mounted = await mountFresh(t);
  const controller = mounted.controller;
  await controller.defineQueue('Q', { defaultPersistent: true });
  const session = controller.session();
  const body = Buffer.alloc(60_000, 1);
  // Churn: alterations leave dead catalog records, messages dead message records.
  await controller.defineChannel('KEEP', sender);
  for (let i = 0; i < 30; i++) await controller.alterChannel('KEEP', { batchSize: i + 1 });
  for (let i = 0; i < 200; i++) await session.put('Q', { body });
  for (let i = 0; i < 200; i++) await session.get('Q');
  await session.close();
  await controller.compact(0.9);
  const again = await mounted.remount();
  t.match(again.channel('KEEP'), { batchSize: 30 });
});
