/**
 * Options of `Controller.mount`, their defaults and their validation (exact messages).
 */
import { Errors } from '../errors.js';
import type { FormatOptions, OpenOptions } from '../storage/lun.js';

export interface MountOptions {
  /** Format the LUN with these options first when `path` does not exist. */
  create?: FormatOptions;
  /** Options for opening the LUN (O_DIRECT, salvage, writer tuning, test faults). */
  lun?: OpenOptions;
  /** Bytes of message records kept in memory for gets (default 64 MiB). */
  cacheBytes?: number;
  /** Messages (puts and gets) one unit of work may hold (default and maximum 4000). */
  unitMessagesMax?: number;
  /** Sessions open at once (default 10 000). */
  sessionsMax?: number;
  /** How often expired messages are looked for beyond those gets meet (default 1000; 0: never). */
  expiryIntervalMs?: number;
  /** Compact when fewer than this share of the segments is free (default 0.25). */
  compactBelowFreeRatio?: number;
  /** Bytes of non-persistent messages held in memory at most (default 256 MiB). */
  nonPersistentBytesMax?: number;
}

export interface ResolvedMountOptions {
  create: FormatOptions | undefined;
  lun: OpenOptions;
  cacheBytes: number;
  unitMessagesMax: number;
  sessionsMax: number;
  expiryIntervalMs: number;
  compactBelowFreeRatio: number;
  nonPersistentBytesMax: number;
}

export const UNIT_MESSAGES_MAX = 4000;
const KEYS = ['create', 'lun', 'cacheBytes', 'unitMessagesMax', 'sessionsMax', 'expiryIntervalMs',
  'compactBelowFreeRatio', 'nonPersistentBytesMax'];

function whole(value: unknown, what: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw Errors.invalidArgument(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function controllerOptions(options: unknown): ResolvedMountOptions {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw Errors.invalidArgument('options must be an object');
  }
  const o = options as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!KEYS.includes(key)) {
      throw Errors.invalidArgument(`Controller.mount has no option '${key}'; known: ${KEYS.join(', ')}`);
    }
  }
  const ratio = o['compactBelowFreeRatio'] ?? 0.25;
  if (typeof ratio !== 'number' || !(ratio >= 0 && ratio <= 0.9)) {
    throw Errors.invalidArgument('options.compactBelowFreeRatio must be a number from 0 to 0.9');
  }
  for (const key of ['create', 'lun']) {
    const value = o[key];
    if (value !== undefined && (typeof value !== 'object' || value === null)) {
      throw Errors.invalidArgument(`options.${key} must be an object`);
    }
  }
  return {
    create: o['create'] as FormatOptions | undefined,
    lun: (o['lun'] ?? {}) as OpenOptions,
    cacheBytes: whole(o['cacheBytes'], 'options.cacheBytes', 0, 2 ** 40, 64 * 1024 * 1024),
    unitMessagesMax: whole(o['unitMessagesMax'], 'options.unitMessagesMax', 1, UNIT_MESSAGES_MAX,
      UNIT_MESSAGES_MAX),
    sessionsMax: whole(o['sessionsMax'], 'options.sessionsMax', 1, 1_000_000, 10_000),
    expiryIntervalMs: whole(o['expiryIntervalMs'], 'options.expiryIntervalMs', 0, 3_600_000, 1000),
    compactBelowFreeRatio: ratio,
    nonPersistentBytesMax: whole(o['nonPersistentBytesMax'], 'options.nonPersistentBytesMax', 0,
      2 ** 40, 256 * 1024 * 1024),
  };
}
