/**
 * Control of a fault-injecting LUN (opened with `options.faults`): counters of the I/O it has
 * seen, a simulated crash, bit flips in stored data, and failure of a chosen I/O. Tests use it
 * to run the same suites over the real LUN and the faulty one.
 */
import { Errors, fromNative } from '../errors.js';
import type { CrashMode, NativeFaultCounters, NativeLun } from './binding.js';
import { address, crashMode, failKind, failOn, integer, optionalBoolean } from './options.js';

export type FaultCounters = NativeFaultCounters;

export interface FailurePlan {
  /** Fail the k-th I/O of kind `on` from now (1 = the next one). */
  io: number;
  on?: 'any' | 'read' | 'write' | 'sync';
  kind?: 'eio' | 'enospc' | 'short';
  /** Keep failing every matching I/O after the k-th. */
  persistent?: boolean;
}

export class FaultInjector {
  readonly #native: NativeLun;

  /** @internal */
  constructor(native: NativeLun) {
    this.#native = native;
  }

  counters(): FaultCounters {
    try {
      return this.#native.faultCounters();
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Crashes now: unsynced writes meet `mode`, and every later I/O fails with E_CRASHED. */
  crash(mode: CrashMode): void {
    const checked = crashMode(mode, 'mode');
    try {
      this.#native.faultCrash(checked);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Flips bit `bit` (0–7) of the stored byte at `offset`. */
  flipBit(offset: number, bit: number): void {
    try {
      this.#native.faultFlipBit(address(offset, 'offset'), integer(bit, 'bit', 0, 7));
    } catch (error) {
      throw fromNative(error);
    }
  }

  failAt(plan: FailurePlan): void {
    if (plan === null || typeof plan !== 'object') throw Errors.invalidArgument('plan must be an object');
    const on = failOn(plan.on, 'plan.on');
    const kind = failKind(plan.kind, 'plan.kind');
    const persistent = optionalBoolean(plan.persistent, 'plan.persistent');
    const io = integer(plan.io, 'plan.io', 0, Number.MAX_SAFE_INTEGER);
    try {
      this.#native.faultArm({
        failAtIo: io,
        ...(on === undefined ? {} : { failOn: on }),
        ...(kind === undefined ? {} : { failKind: kind }),
        ...(persistent === undefined ? {} : { failPersistent: persistent }),
      });
    } catch (error) {
      throw fromNative(error);
    }
  }
}
