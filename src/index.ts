/**
 * sanmq: a SAN controller emulator with a native storage core. This is the public entry
 * point; the storage core (the LUN, its page sets and its slot table) is what exists so far.
 */
export {
  Lun,
  addressOffset,
  crc32c,
  crc32cImplementation,
  type Address,
  type AppendOptions,
  type CompactOptions,
  type CompactionResult,
  type DiskLimits,
  type FormatOptions,
  type LogRecord,
  type LunGeometry,
  type LunStats,
  type OpenOptions,
  type RecoveryReport,
  type SpaceReport,
} from './storage/lun.js';
export { SlotTable } from './storage/slots.js';
export { FaultInjector, type FailurePlan, type FaultCounters } from './storage/faults.js';
export type { CrashMode } from './storage/binding.js';
export { constants as formatConstants } from './storage/binding.js';
export { ERROR_CODES, SanmqError, isSanmqError, type ErrorCode } from './errors.js';
