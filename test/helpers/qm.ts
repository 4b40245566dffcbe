/**
 * Queue managers in tests: started from the compiled tree (test/helpers/compile.ts), since a
 * worker run through the TypeScript loader takes seconds to start, and stopped when the test
 * ends (the controller's unmount stops them too). Also: waiting for an event with a limit.
 */
import { join } from 'node:path';
import type { EventEmitter } from 'node:events';

import type { Controller } from '../../src/index.js';
import type { QueueManager, QueueManagerOptions } from '../../src/qm/queue-manager.js';
import { compiledTree } from './compile.js';
import type { MqTest } from './mq.js';

/** The compiled worker entry of a queue manager. */
export function workerEntry(): string {
  return join(compiledTree(), 'src', 'qm', 'worker.js');
}

/** Starts a queue manager on the controller; it is stopped when the test ends. */
export async function startQm(t: MqTest, controller: Controller, options: QueueManagerOptions):
Promise<QueueManager> {
  // The compiled worker needs none of the test runner's loaders: it starts in a fraction of
  // the time without them.
  const qm = await controller.startQueueManager({ entry: workerEntry(), execArgv: [], ...options });
  t.teardown(() => qm.stop());
  return qm;
}

/** The first `name` event's argument, or an error after `timeoutMs`. */
export function nextEvent<T>(emitter: EventEmitter, name: string, timeoutMs = 10_000,
  accept: (value: T) => boolean = () => true): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(name, listener);
      reject(new Error(`no ${name} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = (value: T): void => {
      if (!accept(value)) return;
      clearTimeout(timer);
      emitter.off(name, listener);
      resolve(value);
    };
    emitter.on(name, listener);
  });
}
