/**
 * Validation of the storage core's options, at the TypeScript boundary, with exact messages.
 * The native core checks again (cheaply); these checks are the ones users read.
 */
import { Errors } from '../errors.js';
import { constants } from './binding.js';
import type { CrashMode, FailKind, FailOn, NativeFaultOptions, NativeOpenOptions } from './binding.js';
import type { FormatOptions } from './lun.js';

export function requirePath(path: unknown): string {
  if (typeof path !== 'string' || path.length === 0) {
    throw Errors.invalidArgument('path must be a non-empty string');
  }
  return path;
}

export function requireObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw Errors.invalidArgument(`${name} must be an object`);
  }
  return value as Record<string, unknown>;
}

export function rejectUnknown(
  options: Record<string, unknown>,
  allowed: readonly string[],
  where: string,
  prefix = 'options',
): void {
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw Errors.invalidArgument(`${prefix}.${key} is not an option of ${where}`);
    }
  }
}

export function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw Errors.invalidArgument(`${name} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function optionalInteger(
  value: unknown,
  name: string,
  min: number,
  max: number,
): number | undefined {
  return value === undefined ? undefined : integer(value, name, min, max);
}

export function optionalBoolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw Errors.invalidArgument(`${name} must be a boolean`);
  return value;
}

function powerOfTwo(value: number): boolean {
  return Number.isSafeInteger(value) && value > 0 && (value & (value - 1)) === 0;
}

export function powerOfTwoInRange(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !powerOfTwo(value) || value < min || value > max) {
    throw Errors.invalidArgument(`${name} must be a power of two from ${min} to ${max}`);
  }
  return value;
}

export function pageSet(value: unknown): number {
  return integer(value, 'pageSet', 0, constants.pageSetCount - 1);
}

export function address(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw Errors.invalidArgument(`${name} must be an address (a non-negative integer)`);
  }
  return value;
}

const crashModes: readonly CrashMode[] = ['drop', 'apply', 'partial', 'tear', 'trash'];
const failOns: readonly FailOn[] = ['any', 'read', 'write', 'sync'];
const failKinds: readonly FailKind[] = ['eio', 'enospc', 'short'];

function oneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !allowed.includes(value as T)) {
    throw Errors.invalidArgument(`${name} must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

export function faultOptions(value: unknown): NativeFaultOptions {
  const o = requireObject(value, 'options.faults');
  rejectUnknown(
    o,
    ['seed', 'crashAtMutation', 'crashMode', 'sectorBytes', 'failAtIo', 'failOn', 'failKind',
      'failPersistent', 'lyingSync', 'realSync'],
    'options.faults',
    'options.faults',
  );
  const out: NativeFaultOptions = {};
  const big = Number.MAX_SAFE_INTEGER;
  const set = <K extends keyof NativeFaultOptions>(key: K, v: NativeFaultOptions[K] | undefined) => {
    if (v !== undefined) out[key] = v;
  };
  set('seed', optionalInteger(o['seed'], 'options.faults.seed', 0, big));
  set('crashAtMutation', optionalInteger(o['crashAtMutation'], 'options.faults.crashAtMutation', 0, big));
  set('crashMode', oneOf(o['crashMode'], 'options.faults.crashMode', crashModes));
  if (o['sectorBytes'] !== undefined) {
    set('sectorBytes', powerOfTwoInRange(o['sectorBytes'], 'options.faults.sectorBytes', 512, 65536));
  }
  set('failAtIo', optionalInteger(o['failAtIo'], 'options.faults.failAtIo', 0, big));
  set('failOn', oneOf(o['failOn'], 'options.faults.failOn', failOns));
  set('failKind', oneOf(o['failKind'], 'options.faults.failKind', failKinds));
  set('failPersistent', optionalBoolean(o['failPersistent'], 'options.faults.failPersistent'));
  set('lyingSync', optionalBoolean(o['lyingSync'], 'options.faults.lyingSync'));
  set('realSync', optionalBoolean(o['realSync'], 'options.faults.realSync'));
  return out;
}

export function failOn(value: unknown, name: string): FailOn | undefined {
  return oneOf(value, name, failOns);
}

export function failKind(value: unknown, name: string): FailKind | undefined {
  return oneOf(value, name, failKinds);
}

export function crashMode(value: unknown, name: string): CrashMode {
  const mode = oneOf(value, name, crashModes);
  if (mode === undefined) throw Errors.invalidArgument(`${name} must be one of ${crashModes.join(', ')}`);
  return mode;
}

const openKeys = ['readOnly', 'direct', 'salvage', 'lockTimeoutMs', 'prefillSegmentsAhead',
  'pendingBytesMax', 'spinUs', 'gatherUs', 'faults'] as const;
const formatKeys = ['sizeBytes', 'blockBytes', 'segmentBytes', 'casSlots', 'casSlotBytes',
  'label', 'force', 'prefill', 'direct', 'onProgress'] as const;

export function nativeOpenOptions(options: unknown, where: string): NativeOpenOptions {
  const o = requireObject(options, 'options');
  rejectUnknown(o, openKeys, where);
  const out: NativeOpenOptions = {};
  if (optionalBoolean(o['readOnly'], 'options.readOnly')) out.mode = 'readOnly';
  const direct = optionalBoolean(o['direct'], 'options.direct');
  if (direct !== undefined) out.direct = direct;
  const salvage = optionalBoolean(o['salvage'], 'options.salvage');
  if (salvage !== undefined) out.salvage = salvage;
  const lockTimeoutMs = optionalInteger(o['lockTimeoutMs'], 'options.lockTimeoutMs', 1, 3_600_000);
  if (lockTimeoutMs !== undefined) out.lockTimeoutMs = lockTimeoutMs;
  const ahead = optionalInteger(o['prefillSegmentsAhead'], 'options.prefillSegmentsAhead', 0, 1024);
  if (ahead !== undefined) out.prefillSegmentsAhead = ahead;
  const pending = optionalInteger(o['pendingBytesMax'], 'options.pendingBytesMax', 1 << 20, 2 ** 32);
  if (pending !== undefined) out.pendingBytesMax = pending;
  const spinUs = optionalInteger(o['spinUs'], 'options.spinUs', 0, 10_000);
  if (spinUs !== undefined) out.spinUs = spinUs;
  const gatherUs = optionalInteger(o['gatherUs'], 'options.gatherUs', 0, 100_000);
  if (gatherUs !== undefined) out.gatherUs = gatherUs;
  if (o['faults'] !== undefined) {
    if (direct) throw Errors.invalidArgument('options.faults cannot be combined with options.direct');
    out.faults = faultOptions(o['faults']);
  }
  return out;
}

export function formatOptions(options: unknown) {
  const o = requireObject(options, 'options');
  rejectUnknown(o, formatKeys, 'Lun.format');
  const blockBytes =
    o['blockBytes'] === undefined
      ? constants.blockBytesMin
      : powerOfTwoInRange(o['blockBytes'], 'options.blockBytes', constants.blockBytesMin,
        constants.blockBytesMax);
  if (o['segmentBytes'] !== undefined) {
    powerOfTwoInRange(o['segmentBytes'], 'options.segmentBytes', constants.segmentBytesMin,
      constants.segmentBytesMax);
  }
  const size = o['sizeBytes'];
  if (size !== undefined &&
      (typeof size !== 'number' || !Number.isSafeInteger(size) || size <= 0 || size % blockBytes)) {
    throw Errors.invalidArgument(`options.sizeBytes must be a positive multiple of ${blockBytes}`);
  }
  if (typeof size === 'number' && size > 2 ** constants.addressOffsetBits) {
    throw Errors.invalidArgument(
      `options.sizeBytes must be at most ${2 ** constants.addressOffsetBits} (256 TiB)`);
  }
  optionalInteger(o['casSlots'], 'options.casSlots', 0, constants.casSlotsMax);
  optionalInteger(o['casSlotBytes'], 'options.casSlotBytes', constants.casSlotBytesMin,
    blockBytes - constants.slotHeaderBytes);
  const label = o['label'];
  if (label !== undefined &&
      (typeof label !== 'string' || Buffer.byteLength(label) >= constants.labelBytes)) {
    throw Errors.invalidArgument(`options.label must be a string of at most ${constants.labelBytes - 1} bytes`);
  }
  for (const key of ['force', 'prefill', 'direct'] as const) optionalBoolean(o[key], `options.${key}`);
  const onProgress = o['onProgress'];
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw Errors.invalidArgument('options.onProgress must be a function');
  }
  const { onProgress: _ignored, ...rest } = o;
  return { native: rest, onProgress: onProgress as FormatOptions['onProgress'] };
}
