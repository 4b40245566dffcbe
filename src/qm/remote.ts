/**
 * A queue manager in a process of its own, reaching its controller over TCP (the controller's
 * `listen()`), on this host or another: the same runtime as in a worker thread, with the
 * member connection dialled instead of handed over. Applications reach it at its own
 * listener. When the controller's connection ends, it closes its listener and applications.
 */
import { EventEmitter } from 'node:events';

import { dial, listen, type DialOptions, type Listener, type ListenOptions }
  from '../protocol/listener.js';
import { Errors } from '../errors.js';
import { CONNECTIONS_MAX } from '../protocol/frames.js';
import { personality } from './personalities.js';
import { checkCodes } from './mq/personality.js';
import { MQENC_NATIVE_BIG, MQENC_NATIVE_LITTLE } from './mq/mqmd.js';
import { QueueManagerRuntime } from './runtime.js';

export interface RemoteQueueManagerOptions {
  name: string;
  personality: 'mq' | 'jms';
  ccsid?: number;
  encoding?: 'big' | 'little';
  /** The controller's listener, and its shared secret if it has one. */
  controller: DialOptions & { secret?: string };
  /** Where applications connect (127.0.0.1 and a free port unless told otherwise). */
  listen?: ListenOptions;
  connectionsMax?: number;
}

/** A running remote queue manager. Events: 'member-joined', 'member-ended', 'closed'. */
export interface RemoteQueueManager extends EventEmitter {
  readonly name: string;
  /** Its application listener. */
  readonly address: { host: string; port: number };
  close(): Promise<void>;
}

/** Connects to the controller, joins as a member and starts serving applications. */
export async function runQueueManager(options: RemoteQueueManagerOptions):
Promise<RemoteQueueManager> {
  const connectionsMax = options.connectionsMax ?? CONNECTIONS_MAX;
  if (!Number.isInteger(connectionsMax) || connectionsMax < 1 || connectionsMax > CONNECTIONS_MAX) {
    throw Errors.invalidArgument(`connectionsMax must be an integer from 1 to ${CONNECTIONS_MAX}`);
  }
  const encoding = options.encoding === 'big' ? MQENC_NATIVE_BIG : MQENC_NATIVE_LITTLE;
  const ccsid = options.ccsid ?? 1208;
  checkCodes(ccsid, encoding, 'the queue manager\'s');
  const runtime = new QueueManagerRuntime(await dial(options.controller), {
    settings: { name: options.name, ccsid, encoding },
    personality: personality(options.personality),
    connectionsMax,
  });
  const events = new EventEmitter();
  runtime.onEvent = (name, data) => events.emit(name, data);
  let listener: Listener | undefined;
  const close = async (): Promise<void> => {
    runtime.close();
    await listener?.close();
  };
  try {
    await runtime.start(options.controller.secret);
    const listenAt = options.listen ?? {};
    listener = await listen(listenAt, (transport) => runtime.serve(transport, listenAt.secret));
  } catch (error) {
    await close();
    throw error;
  }
  runtime.onControllerClosed(() => {
    void close().then(() => events.emit('closed'));
  });
  return Object.assign(events, {
    name: options.name,
    address: { host: listener.host, port: listener.port },
    close,
  });
}
