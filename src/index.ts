/**
 * sanmq: a SAN controller emulator with a native storage core. This is the public entry
 * point: the controller (queues, units of work, locks) and the storage core under it.
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
  type RecordHeads,
  type RecoveryReport,
  type SpaceReport,
} from './storage/lun.js';
export { SlotTable } from './storage/slots.js';
export { FaultInjector, type FailurePlan, type FaultCounters } from './storage/faults.js';
export type { CrashMode } from './storage/binding.js';
export { constants as formatConstants } from './storage/binding.js';
export { ERROR_CODES, SanmqError, isSanmqError, type ErrorCode } from './errors.js';
export { Controller, DEFAULT_DEAD_LETTER_QUEUE, type ControllerStats, type InDoubtUnit,
  type QueueInfo } from './controller/controller.js';
export type { MountOptions } from './controller/mount-options.js';
export type { MountReport } from './controller/recovery.js';
export { Session, BrowseCursor, type Message, type PutResult } from './controller/session.js';
export type { GetOptions, MessageInput, PutOptions } from './controller/validation.js';
export type { QueueAttributes, DeliverySequence, TriggerType, InputOpen } from './controller/attributes.js';
export type { DeadLetterHeader, Properties, PropertyValue } from './controller/codec.js';
export {
  LockManager,
  type LockHolder,
  type LockManagerOptions,
  type LockMode,
  type LockState,
  type LockStats,
  type LockWaiter,
} from './controller/locks.js';
export type { StoreStats } from './controller/store.js';
export type { Outcome } from './controller/units.js';
