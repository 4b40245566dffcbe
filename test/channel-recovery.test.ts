/**
 * Peer recovery of shared channels (US 2002/0064126): a remote queue manager receives N
 * messages while the owning queue manager, its channel initiator, the network or the status
 * table fails mid-transfer; at the end the remote destination holds exactly the N messages,
 * in order, none twice, and a watcher of the status table saw no instance of the channel
 * with two owners. Also: two members racing to recover one channel, and inbound takeover.
 */
import t from 'tap';

import { ChannelAdmin } from '../src/channels/admin.js';
import { XQ_QUEUE } from '../src/channels/wire.js';
import type { Controller } from '../src/index.js';
import type { QueueManager } from '../src/qm/queue-manager.js';
import { drain, mountFresh, sleep, type MqTest } from './helpers/mq.js';
import { nextEvent } from './helpers/qm.js';
import { startMember, startRemoteSite, until, watchStatus, type RemoteSite } from './helpers/channels.js';

const N = 600;
const expected = Array.from({ length: N }, (_, i) => String(i));

interface Group {
  controller: Controller;
  admin: ChannelAdmin;
  remote: RemoteSite;
  members: Map<string, QueueManager>;
  slot: number;
}

/** A group of `names` members with one sender channel TO.REMOTE, N messages queued. */
async function group(t: MqTest, names: string[]): Promise<Group> {
  const remote = await startRemoteSite(t, { qm: 'REMOTE', queues: ['DEST'],
    channels: [{ name: 'TO.REMOTE', type: 'receiver' }] });
  const { controller } = await mountFresh(t);
  await controller.defineQueue('XMITQ', { defaultPersistent: true, maxDepth: 100_000 });
  const def = await controller.defineChannel('TO.REMOTE', { type: 'sender', transmissionQueue: 'XMITQ',
    connection: `127.0.0.1:${remote.port}`, batchSize: 10, shortRetryMs: 50, shortRetryCount: 400 });
  const members = new Map<string, QueueManager>();
  for (const name of names) members.set(name, await startMember(t, controller, name));
  const session = controller.session();
  for (let i = 0; i < N; i++) {
    await session.put('XMITQ', { body: String(i), persistent: true, properties: { [XQ_QUEUE]: 'DEST' } },
      { syncpoint: true });
    if (i % 100 === 99) await session.commit();
  }
  await session.commit();
  await session.close();
  return { controller, admin: new ChannelAdmin(controller), remote, members, slot: def.statusSlot };
}

async function delivered(remote: RemoteSite): Promise<string[]> {
  return await remote.command({ op: 'bodies', queue: 'DEST' }) as string[];
}

/** Waits until the remote end holds some but not all messages: the transfer is under way. */
async function midTransfer(g: Group): Promise<void> {
  await until('the transfer under way', async () => (await delivered(g.remote)).length >= 50);
}

async function owner(g: Group): Promise<string> {
  return (await g.admin.status('TO.REMOTE'))[0]?.entry?.owner ?? '';
}

async function finish(t: { same(found: unknown, wanted: unknown, message: string): unknown },
  g: Group, watcher: ReturnType<typeof watchStatus>): Promise<void> {
  await until('all messages delivered', async () => (await delivered(g.remote)).length >= N, 60_000);
  await until('the transmission queue empty', () => g.controller.queue('XMITQ').depth === 0);
  await sleep(100);
  t.same(await delivered(g.remote), expected, `exactly the ${N} messages, in order, none twice`);
  const { problems } = await watcher.stop();
  t.same(problems, [], 'no instance of the channel had two owners');
  t.same(g.controller.inDoubt(), [], 'no batch is left in doubt');
  await g.remote.stop();
}

t.test('queue-manager failure: a peer wins the channel by compare-and-swap and resumes it',
  async (t) => {
    const g = await group(t, ['QM1', 'QM2', 'QM3']);
    const watcher = watchStatus(g.controller, [g.slot]);
    const first = await g.admin.start('TO.REMOTE');
    await midTransfer(g);
    t.equal(await owner(g), first);
    await g.members.get(first)?.terminate();
    await until('a peer runs the channel', async () => {
      const [row] = await g.admin.status('TO.REMOTE');
      return row?.status === 'running' && row.entry?.owner !== first;
    });
    t.not(await owner(g), first, `a peer of ${first} took the channel over (${await owner(g)})`);
    await finish(t, g, watcher);
  });

t.test('channel-initiator failure: its queue manager hands its channels to a peer', async (t) => {
  const g = await group(t, ['QM1', 'QM2']);
  const watcher = watchStatus(g.controller, [g.slot]);
  const first = await g.admin.start('TO.REMOTE');
  const paired = g.members.get(first) as QueueManager;
  const recovered = nextEvent<Record<string, unknown>>(paired, 'channels-recovered', 20_000);
  await midTransfer(g);
  await paired.channelInitiator?.terminate();
  t.same(await recovered, { channels: ['TO.REMOTE'] }, `${first} recovered its initiator's channel`);
  t.ok(paired.running, 'the queue manager itself runs on');
  await until('the peer runs it', async () => {
    const [row] = await g.admin.status('TO.REMOTE');
    return row?.status === 'running' && row.entry?.owner !== first;
  });
  await finish(t, g, watcher);
});

t.test('communications failure: the remote end dies mid-batch; the channel retries and resumes',
  async (t) => {
    const g = await group(t, ['QM1', 'QM2']);
    const watcher = watchStatus(g.controller, [g.slot]);
    await g.admin.start('TO.REMOTE');
    await midTransfer(g);
    const port = g.remote.port;
    const lun = g.remote.lun;
    await g.remote.kill();
    await until('the channel retries', async () => (await g.admin.status('TO.REMOTE'))[0]?.status === 'retrying');
    g.remote = await startRemoteSite(t, { qm: 'REMOTE', queues: ['DEST'], port, lun,
      channels: [{ name: 'TO.REMOTE', type: 'receiver' }] });
    await finish(t, g, watcher);
  });

t.test('status-table failure: the instance ends, unlocks the queue and restarts on another member',
  async (t) => {
    const g = await group(t, ['QM1', 'QM2']);
    const watcher = watchStatus(g.controller, [g.slot]);
    const first = await g.admin.start('TO.REMOTE');
    await midTransfer(g);
    g.members.get(first)?.channelInitiator?.failStatusUpdates(3);
    await until('another member runs it', async () => {
      const [row] = await g.admin.status('TO.REMOTE');
      return row?.status === 'running' && row.entry?.owner !== first;
    });
    await finish(t, g, watcher);
  });

t.test('two members racing to recover the same channel: one wins, the other backs off', async (t) => {
  const { controller } = await mountFresh(t);
  await controller.defineQueue('XMITQ');
  const def = await controller.defineChannel('TO.NOWHERE', { type: 'sender',
    transmissionQueue: 'XMITQ', connection: '127.0.0.1:9', shortRetryMs: 60_000 });
  const { GroupClient } = await import('../src/channels/group.js');
  const { ChannelInitiator } = await import('../src/channels/initiator.js');
  const { StatusTable } = await import('../src/channels/status.js');
  const { MessageChannel } = await import('node:worker_threads');
  const { PortTransport } = await import('../src/protocol/transport.js');
  const initiators = [];
  for (const name of ['PEER1', 'PEER2']) {
    const channel = new MessageChannel();
    controller.attachMember(new PortTransport(channel.port1, name));
    const client = new GroupClient(new PortTransport(channel.port2, 'controller'), name);
    await client.start();
    const initiator = new ChannelInitiator(client);
    t.teardown(() => initiator.close());
    initiators.push(initiator);
  }
  const table = new StatusTable(controller.lun.slots);
  for (let round = 0; round < 20; round++) {
    await table.transition(def.statusSlot, () => ({ channel: 'TO.NOWHERE', type: 'sender',
      transmissionQueue: 'XMITQ', remoteQueueManager: '', owner: 'GONE', status: 'running',
      remoteAddress: '127.0.0.1:9', instance: round, retries: 0, sentSequence: 0, committedSequence: 0 }));
    const won = await Promise.all(initiators.map((i) => i.recoverChannelsOf('GONE')));
    t.equal(won.filter((w) => w.includes('TO.NOWHERE')).length, 1, `round ${round}: exactly one winner`);
    const { entry } = await table.read(def.statusSlot);
    t.ok(entry !== undefined && ['PEER1', 'PEER2'].includes(entry.owner), 'the winner owns it');
    // The winner's start fails (nothing listens there) and its retry is recorded; only then
    // does the next round set the entry again.
    await until('the winner recorded its retry', async () => (await table.read(def.statusSlot)).entry?.status === 'retrying');
    for (const i of initiators) i.stopChannel('TO.NOWHERE');
  }
});

t.test('inbound takeover: the remote restarts its channel at the generic address and a peer accepts it',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('INBOX', { defaultPersistent: true, maxDepth: 100_000 });
    const def = await controller.defineChannel('FROM.REMOTE', { type: 'receiver' });
    const members = new Map<string, QueueManager>();
    for (const name of ['QM1', 'QM2']) members.set(name, await startMember(t, controller, name));
    const admin = new ChannelAdmin(controller);
    const generic = await admin.listenGeneric();
    t.teardown(() => generic.close());
    const remote = await startRemoteSite(t, { qm: 'REMOTE', queues: ['XQ'], channels: [{
      name: 'FROM.REMOTE', type: 'sender', transmissionQueue: 'XQ',
      connection: `127.0.0.1:${generic.port}`, batchSize: 10, shortRetryMs: 50 }] });
    const watcher = watchStatus(controller, [def.statusSlot]);
    await remote.command({ op: 'put', queue: 'XQ', destination: 'INBOX', count: N, first: 0 });
    await remote.command({ op: 'start', channel: 'FROM.REMOTE' });
    await until('the transfer under way', () => controller.queue('INBOX').depth >= 50);
    const [row] = await admin.status('FROM.REMOTE');
    const first = row?.entry?.owner as string;
    t.match(row, { status: 'running', entry: { type: 'receiver', transmissionQueue: '',
      remoteQueueManager: 'REMOTE' } }, `${first} accepted the inbound channel`);

    // Only one inbound instance runs: a second sender of the same channel is refused.
    const { ClientEndpoint } = await import('../src/protocol/endpoint.js');
    const { dial } = await import('../src/protocol/listener.js');
    const other = [...members.values()].find((m) => m.name !== first) as QueueManager;
    const address = other.channelInitiator?.address as { host: string; port: number };
    const intruder = new ClientEndpoint(await dial({ port: address.port }), 1 << 20);
    const refused = await intruder.hello({ versions: [1], role: 'channel', channel: 'FROM.REMOTE',
      type: 'sender', queueManager: 'REMOTE' }).then(() => 'accepted', (error: { code?: string }) => error.code);
    t.equal(refused, 'E_CHANNEL_ACTIVE', 'a second inbound instance is refused');
    intruder.close();

    await members.get(first)?.terminate();
    await until('all messages received', () => controller.queue('INBOX').depth >= N, 60_000);
    await sleep(200);
    const got = await drain(controller, 'INBOX', N + 10);
    t.same(got, expected, `exactly the ${N} messages, in order, none twice`);
    const [after] = await admin.status('FROM.REMOTE');
    t.not(after?.entry?.owner, first, `the peer ${after?.entry?.owner ?? ''} took the inbound channel over`);
    const { problems } = await watcher.stop();
    t.same(problems, [], 'no instance of the channel had two owners');
    await remote.stop();
  });

/**
 * Waits until the group holds the channel's batch in doubt (prepared, unconfirmed) and it stays
 * so: a batch that was past the receiver's pause when the pause began completes in moments.
 */
async function inDoubtBatch(g: Group): Promise<string> {
  let xid = '';
  await until('a batch held in doubt at the sender', async () => {
    const found = g.controller.inDoubt().map((u) => u.xid).find((x) => x.startsWith('SANMQ.CH.TO.REMOTE.'));
    if (found === undefined) return false;
    await sleep(300);
    xid = found;
    return g.controller.inDoubt().some((u) => u.xid === found);
  });
  return xid;
}

/** Resolutions of in-doubt batches, as the group's channel initiators report them. */
function resolutions(g: Group): Array<{ xid: string; outcome: string }> {
  const seen: Array<{ xid: string; outcome: string }> = [];
  for (const member of g.members.values()) {
    member.channelInitiator?.on('resolved', (data: { xid: string; outcome: string }) => seen.push(data));
  }
  return seen;
}

t.test('a batch in doubt when its sender dies is committed by the peer: the receiver had it',
  async (t) => {
    const g = await group(t, ['QM1', 'QM2']);
    const resolved = resolutions(g);
    const watcher = watchStatus(g.controller, [g.slot]);
    const first = await g.admin.start('TO.REMOTE');
    await midTransfer(g);
    // The receiver commits each batch and then holds back its confirmation.
    await g.remote.command({ op: 'delay-batches', ms: 120_000, phase: 'reply' });
    const xid = await inDoubtBatch(g);
    await g.members.get(first)?.terminate();
    await until('the peer resolved it', () => resolved.some((r) => r.xid === xid));
    t.same(resolved.filter((r) => r.xid === xid), [{ channel: 'TO.REMOTE', xid, outcome: 'commit' }],
      'committed: the receiver had committed it');
    await g.remote.command({ op: 'delay-batches', ms: 0 });
    await finish(t, g, watcher);
  });

t.test('a batch in doubt when the receiver dies before committing it is rolled back and sent again',
  async (t) => {
    const g = await group(t, ['QM1', 'QM2']);
    const resolved = resolutions(g);
    const watcher = watchStatus(g.controller, [g.slot]);
    await g.admin.start('TO.REMOTE');
    await midTransfer(g);
    await g.remote.command({ op: 'delay-batches', ms: 120_000, phase: 'commit' });
    const xid = await inDoubtBatch(g);
    const { port, lun } = g.remote;
    await g.remote.kill();
    g.remote = await startRemoteSite(t, { qm: 'REMOTE', queues: ['DEST'], port, lun,
      channels: [{ name: 'TO.REMOTE', type: 'receiver' }] });
    await until('the batch was resolved', () => resolved.some((r) => r.xid === xid));
    t.same(resolved.filter((r) => r.xid === xid), [{ channel: 'TO.REMOTE', xid, outcome: 'rollback' }],
      'rolled back: the receiver never committed it');
    await finish(t, g, watcher);
  });
