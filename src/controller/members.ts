/**
 * The controller's side of the protocol: the queue managers of the group ("members") connect,
 * say who they are, and then work through sessions they open here, one per application
 * connection they serve. When a member's connection ends, for whatever reason (its thread
 * crashed, was terminated, its process was killed, the link broke), its sessions close: their
 * units of work back out, prepared ones stay in doubt, their locks are released; then the
 * other members hear of it (event member-ended), and the controller's own listeners too.
 */
import { EventEmitter } from 'node:events';
import { timingSafeEqual } from 'node:crypto';

import { Errors, SanmqError } from '../errors.js';
import {
  FRAME_BYTES_MAX,
  MEMBER_IN_FLIGHT_MAX,
  PROTOCOL_VERSIONS,
  type Args,
} from '../protocol/frames.js';
import { ServerEndpoint, type Accepted } from '../protocol/endpoint.js';
import { inputFromWire, messageToWire, putResultToWire } from '../protocol/messages.js';
import type { Transport } from '../protocol/transport.js';
import {
  integer,
  optionalBytes,
  optionalFlag,
  optionalInteger,
  optionalText,
  text,
} from '../protocol/values.js';
import { NAME_PATTERN } from './attributes.js';
import { GROUP_OPS, groupRequest, type GroupHost } from './group-ops.js';
import type { BrowseCursor, Session } from './session.js';

/**
 * The two kinds of member: a queue manager, and the channel initiator paired with it (same
 * name; it fails apart from its queue manager, US 2002/0064126 paragraph 0056).
 */
export type MemberRole = 'queue-manager' | 'channel-initiator';
const ROLES: readonly string[] = ['queue-manager', 'channel-initiator'];

/** What the member service needs of its controller. */
export interface MemberHost extends GroupHost {
  session(): Session;
  check(): void;
  readonly recordBytesMax: number;
  queueInfo(name: string): unknown;
  inDoubtList(): unknown;
  resolve(xid: string, outcome: 'commit' | 'rollback'): Promise<void>;
}

export interface MemberInfo {
  name: string;
  role: MemberRole;
  personality: string;
  peer: string;
  connectedAt: Date;
  sessions: number;
  /** Its connection ended and its sessions are being closed; it is listed until they are. */
  ending: boolean;
}

export interface MemberEnded {
  name: string;
  role: MemberRole;
  personality: string;
  /**
   * Why the connection ended: 'closed' after the member said goodbye (an orderly stop), else
   * the error that broke it (E_CONNECTION_BROKEN when the connection just went away).
   */
  reason: string;
  /** Sessions that were open, whose units of work were backed out. */
  sessions: number;
}

/** Cursors one member may hold open, and sessions. */
const CURSORS_MAX = 65_536;
const SESSIONS_MAX = 65_536;
export const MEMBER_OPS = new Set(['session.open', 'session.close', 'open', 'close', 'put', 'get',
  'browse.open', 'browse.next', 'browse.close', 'commit', 'backout', 'prepare', 'inquire',
  'in-doubt', 'resolve', 'goodbye', ...GROUP_OPS]);

export interface MemberServiceOptions {
  /** When set, a hello must carry it (TCP members on other hosts). */
  secret?: string | undefined;
  frameBytesMax?: number;
}

class Member {
  readonly sessions = new Map<number, Session>();
  /** Browse cursors, each usable only by the session that opened it. */
  readonly cursors = new Map<number, { session: Session; cursor: BrowseCursor }>();
  #nextSession = 1;
  #nextCursor = 1;
  /** Said goodbye: its connection's end is a stop, not a failure. */
  leaving = false;
  /** Its connection ended and its sessions are closing: it is listed until they are closed. */
  ending = false;
  readonly connectedAt = new Date();

  constructor(readonly name: string, readonly role: MemberRole, readonly personality: string,
    readonly endpoint: ServerEndpoint, readonly protocol: number) {}

  get key(): string {
    return memberKey(this.role, this.name);
  }

  addSession(session: Session): number {
    if (this.sessions.size >= SESSIONS_MAX) {
      throw new SanmqError('E_BUSY', `member ${this.name} holds ${SESSIONS_MAX} sessions`);
    }
    const id = this.#nextSession++;
    this.sessions.set(id, session);
    return id;
  }

  session(args: Args): Session {
    const session = this.sessions.get(integer(args, 'session'));
    if (session === undefined) throw Errors.invalidArgument(`session ${String(args['session'])} is not open`);
    return session;
  }

  addCursor(session: Session, cursor: BrowseCursor): number {
    if (this.cursors.size >= CURSORS_MAX) {
      throw new SanmqError('E_BUSY', `member ${this.name} holds ${CURSORS_MAX} browse cursors`);
    }
    const id = this.#nextCursor++;
    this.cursors.set(id, { session, cursor });
    return id;
  }

  cursor(args: Args): BrowseCursor {
    const id = integer(args, 'cursor');
    const entry = this.cursors.get(id);
    if (entry === undefined || entry.session !== this.session(args)) {
      throw Errors.invalidArgument(`cursor ${id} is not open on this session`);
    }
    return entry.cursor;
  }
}

export class MemberService {
  readonly events = new EventEmitter();
  readonly #host: MemberHost;
  readonly #members = new Map<string, Member>();
  readonly #endpoints = new Set<ServerEndpoint>();
  readonly #closing = new Set<Promise<void>>();

  constructor(host: MemberHost) {
    this.#host = host;
  }

  members(): MemberInfo[] {
    return [...this.#members.values()].map((m) => ({ name: m.name, role: m.role,
      personality: m.personality, peer: m.endpoint.peer, connectedAt: m.connectedAt,
      sessions: m.sessions.size, ending: m.ending }));
  }

  /** Whether a member of this role and name is connected. */
  connected(role: MemberRole, name: string): boolean {
    return this.#members.has(memberKey(role, name));
  }

  /**
   * Sends a channel request (start, stop, recover) to the named queue manager's channel
   * initiator; E_QM_NOT_AVAILABLE when it is not connected.
   */
  request(to: string, data: Args): void {
    const member = this.#members.get(memberKey('channel-initiator', to));
    if (member === undefined || member.ending) {
      throw new SanmqError('E_QM_NOT_AVAILABLE', `the channel initiator of ${to} is not running`,
        { member: to });
    }
    member.endpoint.event('channel-request', data);
  }

  /** Serves one member's connection (a MessagePort or a socket). */
  attach(transport: Transport, options: MemberServiceOptions = {}): ServerEndpoint {
    const frameBytesMax = options.frameBytesMax ??
      Math.max(FRAME_BYTES_MAX, this.#host.recordBytesMax + 64 * 1024);
    let member: Member | undefined;
    const endpoint: ServerEndpoint = new ServerEndpoint(transport, {
      helloTimeoutMs: 10_000,
      hello: (args) => {
        member = this.#hello(args, endpoint, options.secret);
        return this.#accepted(member, frameBytesMax);
      },
    });
    this.#endpoints.add(endpoint);
    endpoint.onClose((reason) => {
      this.#endpoints.delete(endpoint);
      if (member !== undefined) this.#track(this.#ended(member, reason));
    });
    return endpoint;
  }

  #hello(args: Args, endpoint: ServerEndpoint, secret: string | undefined): Member {
    this.#host.check();
    const protocol = checkVersion(args);
    if (secret !== undefined && !secretMatches(args['secret'], secret)) {
      throw new SanmqError('E_NOT_AUTHORIZED', 'the hello did not carry the shared secret');
    }
    const role = args['role'];
    if (typeof role !== 'string' || !ROLES.includes(role)) {
      throw new SanmqError('E_NOT_AUTHORIZED',
        "only queue managers (role 'queue-manager') and their channel initiators (role " +
        "'channel-initiator') connect to the controller; applications connect to a queue manager");
    }
    const name = text(args, 'name');
    if (!NAME_PATTERN.test(name)) throw Errors.invalidArgument('name must be 1 to 48 characters of A-Z a-z 0-9 . _ % /');
    const personality = text(args, 'personality');
    const member = new Member(name, role as MemberRole, personality, endpoint, protocol);
    // A member whose connection ended is listed while its sessions close; a new one of its
    // name (a restart) takes its place.
    if (this.#members.get(member.key)?.ending === false) {
      throw Errors.objectInUse(`${role === 'queue-manager' ? 'queue manager' : 'the channel initiator of'} ${name} is connected already`);
    }
    this.#members.set(member.key, member);
    this.#broadcast('member-joined', { name, role, personality }, member);
    this.events.emit('member-joined', { name, role, personality });
    return member;
  }

  #accepted(member: Member, frameBytesMax: number): Accepted {
    return {
      result: { protocol: member.protocol, role: 'controller', frameBytesMax,
        inFlightMax: MEMBER_IN_FLIGHT_MAX, recordBytesMax: this.#host.recordBytesMax,
        members: this.members().map((m) => ({ name: m.name, role: m.role,
          personality: m.personality })) },
      handler: (op, args) => this.#request(member, op, args),
      ops: MEMBER_OPS,
      frameBytesMax,
      inFlightMax: MEMBER_IN_FLIGHT_MAX,
    };
  }

  #request(member: Member, op: string, args: Args): unknown {
    switch (op) {
      case 'session.open':
        return { session: member.addSession(this.#host.session()) };
      case 'session.close': {
        const id = integer(args, 'session');
        const session = member.sessions.get(id);
        member.sessions.delete(id);
        for (const [cursor, entry] of member.cursors) {
          if (entry.session === session) member.cursors.delete(cursor);
        }
        return session?.close().then(() => null) ?? null;
      }
      case 'open':
        member.session(args).open(text(args, 'queue'),
          (optionalText(args, 'input') ?? 'shared') as 'shared');
        return null;
      case 'close':
        member.session(args).closeQueue(text(args, 'queue'));
        return null;
      case 'put': return this.#put(member, args);
      case 'get': return this.#get(member, args);
      case 'browse.open': return this.#browseOpen(member, args);
      case 'browse.next': return this.#browseNext(member, args);
      case 'browse.close':
        member.cursor(args);
        member.cursors.delete(integer(args, 'cursor'));
        return null;
      case 'commit': return member.session(args).commit().then(() => null);
      case 'backout': return member.session(args).backout().then(() => null);
      case 'prepare': return member.session(args).prepare(text(args, 'xid')).then(() => null);
      case 'inquire': return this.#host.queueInfo(text(args, 'queue'));
      case 'in-doubt': return this.#host.inDoubtList();
      case 'goodbye':
        member.leaving = true;
        return null;
      case 'resolve':
        return this.#host.resolve(text(args, 'xid'),
          text(args, 'outcome') as 'commit' | 'rollback').then(() => null);
      default:
        return groupRequest(this.#host, { list: () => this.members(),
          request: (to, data) => this.request(to, data) }, member.name,
        (a) => member.session(a), op, args);
    }
  }

  async #put(member: Member, args: Args): Promise<Args> {
    const message = args['message'];
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      throw Errors.invalidArgument('message must be a map');
    }
    const syncpoint = optionalFlag(args, 'syncpoint') ?? false;
    const result = await member.session(args).put(text(args, 'queue'),
      inputFromWire(message as Args), { syncpoint });
    return putResultToWire(result);
  }

  async #get(member: Member, args: Args): Promise<Args> {
    const options = getOptions(args);
    const message = await member.session(args).get(text(args, 'queue'), {
      ...options,
      syncpoint: optionalFlag(args, 'syncpoint') ?? false,
      waitMs: optionalInteger(args, 'waitMs') ?? 0,
    });
    return messageToWire(message);
  }

  #browseOpen(member: Member, args: Args): Args {
    const session = member.session(args);
    const cursor = session.browse(text(args, 'queue'), getOptions(args));
    return { cursor: member.addCursor(session, cursor) };
  }

  async #browseNext(member: Member, args: Args): Promise<Args> {
    const cursor = member.cursor(args);
    const message = optionalFlag(args, 'first') === true ? await cursor.first() : await cursor.next();
    return messageToWire(message);
  }

  async #ended(member: Member, reason: SanmqError | undefined): Promise<void> {
    // Listed until its sessions are closed (their units backed out, their locks released), so
    // that no peer takes it for gone while it still holds anything.
    member.ending = true;
    const sessions = [...member.sessions.values()];
    member.sessions.clear();
    member.cursors.clear();
    await Promise.allSettled(sessions.map((session) => session.close()));
    if (this.#members.get(member.key) === member) this.#members.delete(member.key);
    const ended: MemberEnded = { name: member.name, role: member.role, personality: member.personality,
      reason: member.leaving ? 'closed' : reason?.code ?? 'E_CONNECTION_BROKEN',
      sessions: sessions.length };
    this.#broadcast('member-ended', { ...ended }, member);
    this.events.emit('member-ended', ended);
  }

  #broadcast(name: string, data: Args, except: Member): void {
    for (const other of this.#members.values()) {
      if (other !== except) other.endpoint.event(name, data);
    }
  }

  #track(work: Promise<void>): void {
    this.#closing.add(work);
    void work.finally(() => this.#closing.delete(work));
  }

  /** Closes every member connection and waits until their sessions are closed. */
  async close(): Promise<void> {
    for (const endpoint of [...this.#endpoints]) endpoint.close();
    await Promise.allSettled([...this.#closing]);
  }
}

function getOptions(args: Args): { messageId?: Uint8Array; correlationId?: Uint8Array;
  selector?: string; } {
  const options: { messageId?: Uint8Array; correlationId?: Uint8Array; selector?: string } = {};
  const messageId = optionalBytes(args, 'messageId');
  const correlationId = optionalBytes(args, 'correlationId');
  const selector = optionalText(args, 'selector');
  if (messageId !== undefined) options.messageId = messageId;
  if (correlationId !== undefined) options.correlationId = correlationId;
  if (selector !== undefined) options.selector = selector;
  return options;
}

/** A hello names the versions it speaks (or one); we answer in the newest both speak. */
export function checkVersion(args: Args): number {
  const offered = Array.isArray(args['versions']) ? args['versions'] : [args['protocol']];
  const common = PROTOCOL_VERSIONS.find((v) => offered.includes(v));
  if (common === undefined) {
    throw new SanmqError('E_PROTOCOL_VERSION', `protocol version ${offered.map(String).join(', ')} ` +
      `is not spoken here; this end speaks ${PROTOCOL_VERSIONS.join(', ')}`,
      { supported: PROTOCOL_VERSIONS.join(',') });
  }
  return common;
}

export function secretMatches(given: unknown, secret: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

function memberKey(role: MemberRole, name: string): string {
  return `${role}:${name}`;
}
