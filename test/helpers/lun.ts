/**
 * Shared test helpers: small LUNs in tap's per-test directories, byte-sabotage of LUN files
 * (flip, zero, garble, truncate), and running TypeScript fixtures as child processes and
 * worker threads with the same loader tap gives the tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { open, truncate as truncateFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { Lun, type FormatOptions, type LunGeometry } from '../../src/index.js';
import { compiledFixture } from './compile.js';

/** A small geometry that keeps tests fast and still spans many segments. */
export const SMALL: FormatOptions = {
  sizeBytes: 16 * 1024 * 1024,
  segmentBytes: 64 * 1024,
  casSlots: 16,
};

export interface TestDir {
  testdir(): string;
}

let counter = 0;
const testDirs = new WeakMap<TestDir, string>();

/**
 * The test's directory, created once: tap's t.testdir() empties the directory at every call,
 * so a second LUN of the same test would delete the first.
 */
export function testDir(t: TestDir): string {
  let dir = testDirs.get(t);
  if (dir === undefined) {
    dir = t.testdir();
    testDirs.set(t, dir);
  }
  return dir;
}

/** Formats a fresh LUN file in the test's directory and returns its path and geometry. */
export async function freshLun(
  t: TestDir,
  options: FormatOptions = SMALL,
): Promise<{ path: string; geometry: LunGeometry }> {
  const dir = testDir(t);
  const path = join(dir, `lun-${process.pid}-${counter++}.img`);
  const geometry = await Lun.format(path, options);
  return { path, geometry };
}

export async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, offset);
    return buffer;
  } finally {
    await handle.close();
  }
}

export async function writeBytes(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.write(bytes, 0, bytes.length, offset);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Flips one bit of the byte at `offset` of a LUN file. */
export async function flipBit(path: string, offset: number, bit = 0): Promise<void> {
  const [byte] = await readBytes(path, offset, 1);
  await writeBytes(path, offset, Buffer.from([(byte ?? 0) ^ (1 << bit)]));
}

export async function zeroBytes(path: string, offset: number, length: number): Promise<void> {
  await writeBytes(path, offset, Buffer.alloc(length));
}

/** `length` seeded pseudo-random bytes (xorshift32): equal seeds give equal bytes. */
export function seededBytes(length: number, seed: number): Buffer {
  const bytes = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    bytes[i] = x & 0xff;
  }
  return bytes;
}

/** Overwrites a range with seeded garbage. */
export async function garble(path: string, offset: number, length: number, seed = 1): Promise<void> {
  await writeBytes(path, offset, seededBytes(length, seed));
}

/**
 * How a call ended: it threw, returned a non-promise, or returned a promise that resolved or
 * rejected. Tests of "async APIs reject rather than throw" compare these.
 */
export type Outcome = 'threw' | 'rejected' | 'returned' | 'resolved';

export async function outcomeOf(
  call: () => unknown,
): Promise<{ kind: Outcome; error?: unknown; value?: unknown }> {
  let value: unknown;
  try {
    value = call();
  } catch (error) {
    return { kind: 'threw', error };
  }
  if (!(value instanceof Promise)) return { kind: 'returned' };
  try {
    return { kind: 'resolved', value: await value };
  } catch (error) {
    return { kind: 'rejected', error };
  }
}

export async function truncate(path: string, length: number): Promise<void> {
  await truncateFile(path, length);
}

export function fixtureSource(name: string): string {
  return fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));
}

/** Starts a fixture as a child process (compiled once per test process: see compile.ts). */
export function spawnFixture(name: string, args: string[]): ChildProcess {
  return spawn(process.execPath, [compiledFixture(name), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs a fixture to completion; resolves with its stdout, rejects on a non-zero exit. */
export function runFixture(name: string, args: string[], timeoutMs = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawnFixture(name, args);
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => {
      if (child.pid !== undefined) child.kill('SIGKILL');
      reject(new Error(`${name} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${name} exited with ${code ?? signal}: ${err}`));
    });
  });
}

/** Starts a fixture in a worker thread (compiled once per test process: see compile.ts). */
export function startWorker(name: string, workerData: unknown): Worker {
  return new Worker(compiledFixture(name), { workerData, execArgv: [] });
}

