/**
 * Killing a fixture child at a chosen moment: the child prints "ready" on stdout when its
 * setup is done, and is sent SIGKILL (by its pid) `delayMs` later. The child logs what it did
 * to a file with synchronous writes (stdout to a pipe would be lost with it); the parent reads
 * that file once the child is dead.
 */
import { readFileSync } from 'node:fs';

import { spawnFixture } from './lun.js';

/** Longest wait for a child to print "ready". */
const START_TIMEOUT_MS = 30_000;

/**
 * Runs fixture `name` with `args`, kills it `delayMs` after it is ready and resolves with the
 * contents of `logPath`; rejects if it does not start or exits by itself.
 */
export function killAfterReady(name: string, args: string[], logPath: string, delayMs: number):
Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnFixture(name, args);
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const kill = () => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    };
    const guard = setTimeout(() => {
      kill();
      reject(new Error(`${name} did not start within ${START_TIMEOUT_MS} ms: ${err}`));
    }, START_TIMEOUT_MS);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (timer === undefined && out.startsWith('ready\n')) {
        clearTimeout(guard);
        timer = setTimeout(kill, delayMs);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(readFileSync(logPath, 'utf8'));
      else reject(new Error(`${name} exited by itself (${code ?? signal}): ${err}`));
    });
  });
}
