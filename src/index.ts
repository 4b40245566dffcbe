/**
 * sanmq: a SAN controller emulator with a native storage core. This is the public entry
 * point: the queue managers and their application connections, the controller (queues, units
 * of work, locks, members) and the storage core under it.
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
export type { Descriptor } from './controller/descriptor.js';
export type { BrowseOptions } from './controller/validation.js';
export type { MemberEnded, MemberInfo, MemberService } from './controller/members.js';
export { compileSelector, type Selector } from './controller/selector.js';
export {
  QueueManager,
  type QueueManagerOptions,
} from './qm/queue-manager.js';
export {
  ApplicationConnection,
  connectQueueManager,
  JmsConnection,
  MqConnection,
  RemoteCursor,
  type ConnectOptions,
  type JmsBody,
  type JmsMessage,
  type JmsMessageInput,
  type MqGetOptions,
  type MqMessage,
  type MqPutMessage,
} from './qm/client.js';
export { runQueueManager, type RemoteQueueManager, type RemoteQueueManagerOptions } from './qm/remote.js';
export type { ListenOptions, Listener, DialOptions } from './protocol/listener.js';
export { PROTOCOL_VERSION } from './protocol/frames.js';
export {
  decodeMqmd,
  defaultMqmd,
  encodeMqmd,
  MQMD_BYTES,
  MQENC_NATIVE_BIG,
  MQENC_NATIVE_LITTLE,
  type Mqmd,
} from './qm/mq/mqmd.js';
export { convertText, decodeText, encodeText, SUPPORTED_CCSIDS } from './qm/mq/convert.js';
export type { MapBody, MapValue } from './qm/jms/map-body.js';
export { PortTransport, SocketTransport, type Transport } from './protocol/transport.js';
export {
  DEFAULT_CHANNEL_ATTRIBUTES,
  parseConnection,
  type ChannelAttributes,
  type ChannelDefinition,
  type ChannelType,
} from './channels/definition.js';
export {
  CHANNEL_STATUSES,
  decodeStatus,
  encodeStatus,
  StatusTable,
  type ChannelStatus,
  type SlotAccess,
  type StatusEntry,
  type StatusRead,
} from './channels/status.js';
export { ChannelAdmin, type ChannelStatusRow } from './channels/admin.js';
export { ChannelInitiatorHandle, type ChannelInitiatorOptions } from './channels/handle.js';
export { CHANNEL_INITIATION_QUEUE, SYNC_QUEUE } from './channels/sync.js';
export { XQ_QUEUE, XQ_QUEUE_MANAGER } from './channels/wire.js';
export { SiteProcess } from './channels/site-process.js';
export type { SiteConfig } from './channels/site.js';
