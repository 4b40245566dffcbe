/**
 * The entry of a queue manager's worker thread. It connects to the controller over the
 * MessagePort it was given, starts its TCP listener when asked, then serves the application
 * connections its handle (`QueueManager` in the starting thread) opens, as conversations on
 * one shared port (src/protocol/mux.ts). When the controller
 * goes away it closes everything and the thread ends; a crash of this thread is seen by the
 * controller as the end of its member connection.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';

import { ERROR_CODES } from '../errors.js';
import { listen, type Listener, type ListenOptions } from '../protocol/listener.js';
import { PortMux } from '../protocol/mux.js';
import { PortTransport } from '../protocol/transport.js';
import { personality } from './personalities.js';
import { QueueManagerRuntime } from './runtime.js';
import type { QueueManagerSettings } from './personality.js';

/** What the starting thread hands the worker. */
export interface WorkerData {
  settings: QueueManagerSettings;
  personality: string;
  connectionsMax: number;
  controller: MessagePort;
  listen: ListenOptions | undefined;
}

/** Messages between a queue manager's handle and its worker (not the protocol). */
/** 'connections': the port on which the starting thread's application connections travel. */
export type ToWorker = { type: 'connections'; port: MessagePort } | { type: 'stop' };
export type FromWorker =
  | { type: 'ready'; listener: { host: string; port: number } | undefined }
  | { type: 'event'; name: string; data: Record<string, unknown> }
  | { type: 'failed'; code: string; message: string };

/** How often the thread reports its metrics. */
const METRICS_INTERVAL_MS = 1000;

async function main(): Promise<void> {
  const port = parentPort as NonNullable<typeof parentPort>;
  const data = workerData as WorkerData;
  const post = (message: FromWorker): void => port.postMessage(message);
  const runtime = new QueueManagerRuntime(new PortTransport(data.controller, 'controller'), {
    settings: data.settings,
    personality: personality(data.personality),
    connectionsMax: data.connectionsMax,
  });
  runtime.onEvent = (name, event) => post({ type: 'event', name, data: event });
  let listener: Listener | undefined;
  const muxes: PortMux[] = [];
  const stop = (): void => {
    runtime.close();
    for (const mux of muxes) mux.close();
    void listener?.close();
    port.close();
  };
  runtime.onControllerClosed(stop);
  try {
    await runtime.start();
    if (data.listen !== undefined) {
      const secret = data.listen.secret;
      listener = await listen(data.listen, (transport) => runtime.serve(transport, secret));
    }
  } catch (error) {
    const coded = error as { code?: unknown; message?: unknown };
    // Only the library's stable codes cross; anything else is reported as E_INTERNAL.
    const code = typeof coded.code === 'string' && (ERROR_CODES as readonly string[])
      .includes(coded.code) ? coded.code : 'E_INTERNAL';
    post({ type: 'failed', code, message: String(coded.message ?? error) });
    stop();
    return;
  }
  port.on('message', (message: ToWorker) => {
    if (message.type === 'connections') {
      muxes.push(new PortMux(message.port, 'applications', (transport) => runtime.serve(transport)));
    } else {
      stop();
    }
  });
  post({ type: 'ready', listener: listener === undefined ? undefined
    : { host: listener.host, port: listener.port } });
  // The thread's metrics, merged into the starting thread's (sanmq mount's /metrics).
  const metrics = setInterval(() => post({ type: 'event', name: 'metrics', data: {
    applications: runtime.applications, requests: runtime.requests,
    heapUsedBytes: process.memoryUsage().heapUsed } }), METRICS_INTERVAL_MS);
  metrics.unref();
  runtime.onControllerClosed(() => clearInterval(metrics));
}

void main();
