/**
 * The shared channel status table: an entry round-trips through its slot image with every
 * field the patent lists; an update with a stale before-image changes nothing; concurrent
 * read-change-swaps lose no update; an entry that does not fit its slot, or a damaged image,
 * is refused with a code.
 */
import t from 'tap';

import {
  decodeStatus,
  encodeStatus,
  FaultySlotAccess,
  StatusTable,
  type StatusEntry,
} from '../src/channels/status.js';
import { errorOf, mountFresh } from './helpers/mq.js';

const entry: StatusEntry = {
  updated: new Date(1_700_000_000_123), channel: 'TO.REMOTE', transmissionQueue: 'XMITQ',
  remoteQueueManager: 'REMOTE', owner: 'QM1', type: 'sender', status: 'running',
  remoteAddress: '127.0.0.1:1414', instance: 7, retries: 2, sentSequence: 41, committedSequence: 40,
};

t.test('an entry round-trips with every field, and an empty slot holds none', async (t) => {
  t.same(decodeStatus(encodeStatus(entry, 256)), entry);
  t.same(decodeStatus(encodeStatus({ ...entry, type: 'receiver', transmissionQueue: '' }, 64 + 64)),
    { ...entry, type: 'receiver', transmissionQueue: '' }, 'inbound: blank transmission queue');
  t.equal(decodeStatus(Buffer.alloc(256)), undefined);
});

t.test('an entry too big for its slot, or a damaged image, is refused with a code', async (t) => {
  t.equal((await errorOf(() => encodeStatus({ ...entry, remoteAddress: 'x'.repeat(200) }, 256))).code,
    'E_INVALID_ARGUMENT');
  const image = encodeStatus(entry, 256);
  image[0] = 0x11;
  t.equal((await errorOf(() => decodeStatus(image))).code, 'E_CORRUPT');
  const truncated = encodeStatus(entry, 256).subarray(0, 40);
  t.equal((await errorOf(() => decodeStatus(truncated))).code, 'E_CORRUPT');
});

t.test('an update with a stale before-image changes nothing', async (t) => {
  const { controller } = await mountFresh(t);
  const table = new StatusTable(controller.lun.slots);
  const first = await table.read(3);
  const mine = await table.update(first, entry);
  t.ok(mine !== undefined, 'the first update takes');
  const stale = await table.update(first, { ...entry, owner: 'QM2' });
  t.equal(stale, undefined, 'the second, from the same before-image, is refused');
  t.equal((await table.read(3)).entry?.owner, 'QM1', 'the entry is as the first update left it');
});

t.test('concurrent read-change-swaps on one entry lose no update', async (t) => {
  const { controller } = await mountFresh(t);
  const table = new StatusTable(controller.lun.slots);
  await table.transition(5, () => ({ ...entry, retries: 0 }));
  await Promise.all(Array.from({ length: 20 }, () => table.transition(5,
    (e) => ({ ...(e as StatusEntry), retries: (e as StatusEntry).retries + 1 }), 64)));
  t.equal((await table.read(5)).entry?.retries, 20);
});

t.test('a status table that cannot be reached fails updates with E_IO, then recovers', async (t) => {
  const { controller } = await mountFresh(t);
  const faulty = new FaultySlotAccess(controller.lun.slots);
  const table = new StatusTable(faulty);
  faulty.failures = 1;
  t.equal((await errorOf(() => table.transition(0, () => entry))).code, 'E_IO');
  t.equal((await table.read(0)).entry, undefined, 'nothing was written');
  await table.transition(0, () => entry);
  t.equal((await table.read(0)).entry?.channel, 'TO.REMOTE');
});
