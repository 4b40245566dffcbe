/**
 * The entry of a channel initiator's worker thread. It joins the controller over the
 * MessagePort it was given (role 'channel-initiator'), listens for inbound channels, and runs
 * until told to stop or until the controller goes away. Its thread fails apart from its queue
 * manager's: the controller sees the end of its member connection, and the queue manager
 * recovers its channels.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

import { ERROR_CODES } from '../errors.js';
import type { ListenOptions } from '../protocol/listener.js';
import { PortTransport } from '../protocol/transport.js';
import { GroupClient } from './group.js';
import { ChannelInitiator } from './initiator.js';
import { FaultySlotAccess } from './status.js';

export interface InitiatorWorkerData {
  name: string;
  controller: MessagePort;
  listen: ListenOptions | undefined;
}

export type ToInitiator =
  | { type: 'stop' }
  | { type: 'start-channel'; channel: string; id: number }
  | { type: 'stop-channel'; channel: string; id: number }
  /** Failure scenario 1 on demand: the next `count` status-table updates fail. */
  | { type: 'fail-status-updates'; count: number }
  /** Inbound batches pause this long before they commit (holds the sender's batch in doubt). */
  | { type: 'delay-batches'; ms: number; phase: 'commit' | 'reply' };

export type FromInitiator =
  | { type: 'ready'; listener: { host: string; port: number } }
  | { type: 'event'; name: string; data: Record<string, unknown> }
  | { type: 'done'; id: number; code?: string; message?: string }
  | { type: 'failed'; code: string; message: string };

function coded(error: unknown): { code: string; message: string } {
  const value = error as { code?: unknown; message?: unknown };
  // Only the library's stable codes cross; anything else is reported as E_INTERNAL.
  const code = typeof value.code === 'string' && (ERROR_CODES as readonly string[])
    .includes(value.code) ? value.code : 'E_INTERNAL';
  return { code, message: String(value.message ?? error) };
}

async function main(): Promise<void> {
  const port = parentPort as NonNullable<typeof parentPort>;
  const data = workerData as InitiatorWorkerData;
  const post = (message: FromInitiator): void => port.postMessage(message);
  const group = new GroupClient(new PortTransport(data.controller, 'controller'), data.name);
  const faults = new FaultySlotAccess(group.slots);
  group.slots = faults;
  const initiator = new ChannelInitiator(group, { listen: data.listen,
    onEvent: (name, event) => post({ type: 'event', name, data: event }) });
  const stop = (): void => {
    void initiator.close().finally(() => port.close());
  };
  group.onClose(stop);
  try {
    await group.start();
    await initiator.start();
  } catch (error) {
    post({ type: 'failed', ...coded(error) });
    stop();
    return;
  }
  port.on('message', (message: ToInitiator) => {
    switch (message.type) {
      case 'stop': stop(); break;
      case 'fail-status-updates': faults.failures = message.count; break;
      case 'delay-batches': initiator.delayBatches(message.ms, message.phase); break;
      case 'start-channel':
        initiator.startChannel(message.channel).then(() => post({ type: 'done', id: message.id }),
          (error: unknown) => post({ type: 'done', id: message.id, ...coded(error) }));
        break;
      case 'stop-channel': {
        const stopped = initiator.stopChannel(message.channel);
        post(stopped ? { type: 'done', id: message.id } : { type: 'done', id: message.id,
          code: 'E_CHANNEL_NOT_ACTIVE', message: `channel '${message.channel}' does not run here` });
        break;
      }
    }
  });
  post({ type: 'ready', listener: initiator.address as { host: string; port: number } });
}

void main();
