/**
 * What the handles of the group's worker threads (queue managers, channel initiators) share:
 * the Node options a worker gets, the script it runs, and the wait for its first word.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';

import { SanmqError } from '../errors.js';

/** Options Node refuses when they are given to a worker explicitly (it drops them itself). */
const PROCESS_ONLY_OPTIONS = /^--(input-type|expose[-_]gc)(=|$)/;

/**
 * A worker inherits this process's Node options when none are given, and Node itself leaves
 * out those that apply to a process only; but it refuses `--input-type` for a worker's file.
 * Only then are the options given, without it and without what Node would refuse.
 */
export function workerExecArgv(execArgv: string[] | undefined): { execArgv?: string[] } {
  if (execArgv !== undefined) return { execArgv };
  if (!process.execArgv.some((option) => option.startsWith('--input-type'))) return {};
  return { execArgv: process.execArgv.filter((option) => !PROCESS_ONLY_OPTIONS.test(option)) };
}

/** The compiled script `name`.js beside `base`, or its .ts source when run from sources. */
export function workerEntry(base: string | URL, name: string): URL {
  const compiled = new URL(`./${name}.js`, base);
  if (existsSync(fileURLToPath(compiled))) return compiled;
  // Run from TypeScript sources (a loader is active): the worker is its .ts file.
  return new URL(`./${name}.ts`, base);
}

/** A worker's first word: ready (with what it reports), or failed with a code. */
export type FirstWord<R> = ({ type: 'ready' } & R) | { type: 'failed'; code: string; message: string };

/**
 * Waits for a worker's 'ready' message (ignoring its 'event' messages); rejects when it
 * reports a failure, exits or stays silent for `timeoutMs` (then it is terminated).
 */
export function awaitReady<R>(worker: Worker, timeoutMs: number, what: string):
Promise<{ type: 'ready' } & R> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new SanmqError('E_QM_NOT_AVAILABLE', `${what} did not start within ${timeoutMs} ms`));
    }, timeoutMs);
    const onMessage = (message: FirstWord<R> | { type: 'event' }): void => {
      if (message.type === 'event') return;
      clearTimeout(timer);
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      if (message.type === 'ready') {
        resolve(message);
      } else {
        void worker.terminate();
        reject(new SanmqError(message.code as 'E_INTERNAL', message.message));
      }
    };
    let failure = '';
    const onError = (error: Error): void => {
      failure = `: ${error.message}`;
    };
    const onExit = (code: number): void => {
      clearTimeout(timer);
      worker.off('error', onError);
      reject(new SanmqError('E_QM_NOT_AVAILABLE', `${what} ended while starting (exit code ${code})${failure}`));
    };
    worker.on('error', onError);
    worker.on('message', onMessage);
    worker.once('exit', onExit);
  });
}

/** How long a worker asked to stop has before it is terminated. */
const STOP_GRACE_MS = 10_000;

/** Asks a running worker to stop (`ask`), terminating it if it has not ended in 10 s. */
export async function stopWorker(worker: Worker | undefined, exited: Promise<number>,
  ask: () => void): Promise<void> {
  if (worker === undefined) return;
  ask();
  const timer = setTimeout(() => void worker.terminate(), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}

/** Ends a worker at once, as a crash would; resolves with its exit code. */
export async function terminateWorker(worker: Worker | undefined, exited: Promise<number>):
Promise<number> {
  if (worker === undefined) return exited;
  await worker.terminate();
  return exited;
}
