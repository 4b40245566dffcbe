/**
 * Helpers for the controller's MQ-semantics tests: a controller mounted on a fresh 64 MiB sparse
 * LUN in the test's directory (unmounted at teardown, also when the test fails), remounting it
 * to check what survived on the LUN, 24-byte ids, and capturing a coded error of a call that
 * throws or rejects.
 */
import { join } from 'node:path';

import { Controller, type MountOptions, type SanmqError } from '../../src/index.js';
import { testDir, type TestDir } from './lun.js';

export const LUN_BYTES = 64 * 1024 * 1024;

/** What the helpers need of a tap test. */
export interface MqTest extends TestDir {
  teardown(callback: () => unknown): void;
}

export interface MountedLun {
  readonly path: string;
  /** The controller mounted now (a new one after each remount). */
  controller: Controller;
  /** Unmounts the controller and mounts the same LUN again (with `options`, if given). */
  remount(options?: Omit<MountOptions, 'create'>): Promise<Controller>;
}

let counter = 0;

/** Mounts a controller on a new LUN of the test; it is unmounted when the test ends. */
export async function mountFresh(t: MqTest, options: Omit<MountOptions, 'create'> = {}):
Promise<MountedLun> {
  const path = join(testDir(t), `controller-${process.pid}-${counter++}.lun`);
  const mounted: MountedLun = {
    path,
    controller: await Controller.mount(path, { ...options, create: { sizeBytes: LUN_BYTES } }),
    async remount(again = options) {
      if (mounted.controller.mounted) await mounted.controller.unmount();
      mounted.controller = await Controller.mount(path, again);
      return mounted.controller;
    },
  };
  t.teardown(() => (mounted.controller.mounted ? mounted.controller.unmount() : undefined));
  return mounted;
}

/** A 24-byte id whose every byte is `seed` (distinct seeds give distinct ids). */
export function idOf(seed: number): Buffer {
  return Buffer.alloc(24, seed);
}

/** The error a call throws or its promise rejects with; fails when it succeeds. */
export async function errorOf(call: () => unknown): Promise<SanmqError> {
  try {
    await call();
  } catch (error) {
    return error as SanmqError;
  }
  throw new Error('expected an error, but the call succeeded');
}

/** Bodies of every message on a queue, gotten one by one (at most `limit`) until none is left. */
export async function drain(controller: Controller, queue: string, limit = 1000):
Promise<string[]> {
  const session = controller.session();
  const bodies: string[] = [];
  try {
    for (let i = 0; i < limit; i++) {
      try {
        bodies.push((await session.get(queue)).body.toString());
      } catch (error) {
        if ((error as SanmqError).code === 'E_NO_MSG') break;
        throw error;
      }
    }
  } finally {
    await session.close();
  }
  return bodies;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
