/**
 * Channel definitions live in the controller's catalog: they survive remounts and
 * compaction, follow MQSC's DEFINE / ALTER / DELETE rules, refuse bad attributes with
 * E_INVALID_ARGUMENT, and each holds a status slot of its own, emptied when it is assigned
 * (E_BUSY when none is free).
 */
import t from 'tap';

import { applyChannelAttributes, parseConnection } from '../src/channels/definition.js';
import { decodeCatalog, RECORD_CHANNEL } from '../src/controller/codec.js';
import type { Controller } from '../src/index.js';
import { segmentOf } from './helpers/log.js';
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
  t.ok(await slots.cas(0, await slots.read(0), stale), 'A left an entry in its slot');
  const c = await controller.defineChannel('C', sender);
  t.equal(c.statusSlot, 0, 'the slot A left is reused');
  t.ok((await slots.read(0)).every((byte) => byte === 0), 'the reused slot was emptied');
});

t.test('a define when every status slot holds a channel is refused with E_BUSY', async (t) => {
  const { controller } = await mountFresh(t);
  const slotCount = controller.lun.slots.slotCount;
  for (let i = 0; i < slotCount; i++) await controller.defineChannel(`C${i}`, sender);
  const error = await errorOf(() => controller.defineChannel('ONE.MORE', sender));
  t.equal(error.code, 'E_BUSY');
  t.match(error.message, `all ${slotCount} status slots`);
  t.equal(new Set(controller.channelList().map((c) => c.statusSlot)).size, slotCount,
    'every channel holds a slot of its own');
  await controller.deleteChannel('C7');
  t.equal((await controller.defineChannel('ONE.MORE', sender)).statusSlot, 7,
    'a deleted channel frees its slot');
});

t.test('compaction moves channel records and the catalog follows them', async (t) => {
  const mounted = await mountFresh(t);
  const controller = mounted.controller;
  const geometry = controller.lun.geometry;
  await controller.defineChannel('KEEP', { ...sender, batchSize: 5 });
  const first = await catalogRecord(controller, 'KEEP');
  // Alterations of another channel fill the catalog's segment until its records go to the
  // next one: the first segment is sealed then, and holds little that is live.
  await controller.defineChannel('CHURN', sender);
  let alterations = 0;
  while (alterations < 10_000 && segmentOf(geometry, await catalogRecord(controller, 'CHURN')) ===
      segmentOf(geometry, first)) {
    await controller.alterChannel('CHURN', { batchSize: (alterations++ % 100) + 1 });
  }
  t.not(segmentOf(geometry, await catalogRecord(controller, 'CHURN')), segmentOf(geometry, first),
    `the catalog left its first segment after ${alterations} alterations`);
  await controller.compact(0.9);
  const moved = await catalogRecord(controller, 'KEEP');
  t.not(moved, first, 'compaction moved the record of KEEP');
  // The catalog must know the new address: each change releases the record before it.
  await controller.alterChannel('KEEP', { batchSize: 6 });
  await controller.deleteChannel('CHURN');
  t.same(await channelRecords(controller), ['KEEP'], 'one live record, no stale one');
  const again = await mounted.remount();
  t.same(again.channelList().map((c) => [c.name, c.batchSize]), [['KEEP', 6]]);
});

/** The channel names in the catalog's live records (page set 0), in append order. */
async function channelRecords(controller: Controller): Promise<string[]> {
  const names: string[] = [];
  for await (const record of controller.lun.records(0)) {
    const { type, value } = decodeCatalog(record.data);
    if (type === RECORD_CHANNEL) names.push(value['name'] as string);
  }
  return names;
}

/** The address of a channel's live catalog record. */
async function catalogRecord(controller: Controller, name: string): Promise<number> {
  for await (const record of controller.lun.records(0)) {
    const { type, value } = decodeCatalog(record.data);
    if (type === RECORD_CHANNEL && value['name'] === name) return record.address;
  }
  throw new Error(`no live catalog record for channel ${name}`);
}
