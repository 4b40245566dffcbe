/**
 * A sender channel of the group moves a shared transmission queue to a remote queue manager
 * outside the group (another controller on its own LUN, in another process): batches with
 * sequence numbers, each committed at the receiver before it leaves the transmission queue;
 * exactly once and in order; one instance at a time; triggered starts; and a stop.
 */
import t from 'tap';

import { ChannelAdmin } from '../src/channels/admin.js';
import { XQ_QUEUE } from '../src/channels/wire.js';
import { errorOf, mountFresh } from './helpers/mq.js';
import { startMember, startRemoteSite, until } from './helpers/channels.js';

const bodies = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => String(from + i));

t.test('a sender channel delivers every message once, in order, and empties the transmission queue',
  async (t) => {
    const remote = await startRemoteSite(t, { qm: 'REMOTE', queues: ['DEST'],
      channels: [{ name: 'TO.REMOTE', type: 'receiver' }] });
    const { controller } = await mountFresh(t);
    await controller.defineQueue('XMITQ', { defaultPersistent: true, maxDepth: 100_000 });
    await controller.defineChannel('TO.REMOTE', { type: 'sender', transmissionQueue: 'XMITQ',
      connection: `127.0.0.1:${remote.port}`, batchSize: 20 });
    await startMember(t, controller, 'QM1');
    const session = controller.session();
    for (const body of bodies(0, 250)) {
      await session.put('XMITQ', { body, persistent: true, properties: { [XQ_QUEUE]: 'DEST' } },
        { syncpoint: true });
    }
    await session.commit();
    const admin = new ChannelAdmin(controller);
    t.equal(await admin.start('TO.REMOTE'), 'QM1', 'the one initiator of the group starts it');
    await until('250 messages at the remote end',
      async () => (await remote.command({ op: 'bodies', queue: 'DEST' }) as string[]).length >= 250);
    await until('the transmission queue is empty', () => controller.queue('XMITQ').depth === 0);
    t.same(await remote.command({ op: 'bodies', queue: 'DEST' }), bodies(0, 250), 'all, in order, once');
    // The entry's sequence numbers follow the batches at most every 100 ms.
    await until('the status entry shows the last batch', async () =>
      (await admin.status('TO.REMOTE'))[0]?.entry?.committedSequence === 13);
    const [row] = await admin.status('TO.REMOTE');
    t.match(row, { status: 'running', ownerRunning: true,
      entry: { owner: 'QM1', type: 'sender', transmissionQueue: 'XMITQ', committedSequence: 13,
        remoteQueueManager: 'REMOTE', remoteAddress: `127.0.0.1:${remote.port}` } },
    '250 messages in batches of 20: 13 batches');
    t.equal((await errorOf(() => admin.start('TO.REMOTE'))).code, 'E_CHANNEL_ACTIVE',
      'a second start is refused while it runs');
    const qm2 = await startMember(t, controller, 'QM2');
    t.equal((await errorOf(() => qm2.channelInitiator?.startChannel('TO.REMOTE'))).code,
      'E_CHANNEL_ACTIVE', 'so is a start on another member: the transmission queue is locked');
    t.equal((await errorOf(() => controller.deleteChannel('TO.REMOTE'))).code, 'E_CHANNEL_ACTIVE',
      'a running channel cannot be deleted');

    // Messages put while it runs flow too; then STOP ends it after its batch.
    for (const body of bodies(250, 10)) {
      await session.put('XMITQ', { body, persistent: true, properties: { [XQ_QUEUE]: 'DEST' } });
    }
    await until('260 at the remote end',
      async () => (await remote.command({ op: 'bodies', queue: 'DEST' }) as string[]).length >= 260);
    await admin.stop('TO.REMOTE');
    await until('the channel stopped', async () => (await admin.status('TO.REMOTE'))[0]?.status === 'stopped');
    await session.put('XMITQ', { body: 'after stop', properties: { [XQ_QUEUE]: 'DEST' } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    t.equal(controller.queue('XMITQ').depth, 1, 'a stopped channel sends nothing');
    t.equal((await errorOf(() => admin.stop('TO.REMOTE'))).code, 'E_CHANNEL_NOT_ACTIVE');
    await session.close();
    await remote.stop();
  });

t.test('a message on a triggered transmission queue starts its channel on the least busy member',
  async (t) => {
    const remote = await startRemoteSite(t, { qm: 'REMOTE', queues: ['A', 'B'],
      channels: [{ name: 'TO.A', type: 'receiver' }, { name: 'TO.B', type: 'receiver' }] });
    const { controller } = await mountFresh(t);
    await controller.defineChannelQueues();
    for (const [queue, channel] of [['XQA', 'TO.A'], ['XQB', 'TO.B']] as const) {
      await controller.defineQueue(queue, { defaultPersistent: true, triggerControl: true,
        triggerType: 'first', initiationQueue: 'SYSTEM.CHANNEL.INITQ', triggerData: channel });
      await controller.defineChannel(channel, { type: 'sender', transmissionQueue: queue,
        connection: `127.0.0.1:${remote.port}` });
    }
    await startMember(t, controller, 'QM1');
    await startMember(t, controller, 'QM2', 'jms');
    const admin = new ChannelAdmin(controller);
    const session = controller.session();
    await session.put('XQA', { body: 'to A', properties: { [XQ_QUEUE]: 'A' } });
    await until('TO.A runs', async () => (await admin.status('TO.A'))[0]?.status === 'running');
    const first = (await admin.status('TO.A'))[0]?.entry?.owner as string;
    await session.put('XQB', { body: 'to B', properties: { [XQ_QUEUE]: 'B' } });
    await until('TO.B runs', async () => (await admin.status('TO.B'))[0]?.status === 'running');
    const second = (await admin.status('TO.B'))[0]?.entry?.owner as string;
    t.not(second, first, `the second channel went to the member with no channel (${first}, then ${second})`);
    await until('both delivered', async () =>
      (await remote.command({ op: 'bodies', queue: 'A' }) as string[]).length === 1 &&
      (await remote.command({ op: 'bodies', queue: 'B' }) as string[]).length === 1);
    await session.close();
    await remote.stop();
  });
