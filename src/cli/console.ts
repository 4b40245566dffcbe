/**
 * The web console's JSON API and live feed, served by the admin endpoint of `sanmq mount`
 * (127.0.0.1 unless configured otherwise). The page itself is console-page.ts. The API:
 *   GET  /api/state                      everything the views show (the SSE event's payload;
 *                                        also GET /status, which `sanmq status --json` prints)
 *   GET  /api/events                     Server-Sent Events: `state` every second
 *   GET  /api/queues/:name/messages      a non-destructive browse (descriptor, hex, text)
 *   POST /api/queues/:name/put           a test put: { text, persistent?, properties? }
 *   POST /api/queues/:name/purge         CLEAR QLOCAL
 *   POST /api/members/:name/(start|stop|kill)
 *   POST /api/units/:xid/resolve         { outcome: 'commit' | 'rollback' }
 * A sampler keeps the last ten minutes of per-second figures (puts, gets, fdatasyncs and
 * their mean latency) for the charts.
 */
import { stat } from 'node:fs/promises';
import type http from 'node:http';

import { SanmqError } from '../errors.js';
import type { Controller } from '../controller/controller.js';
import type { ChannelAdmin } from '../channels/admin.js';
import type { QueueManager } from '../qm/queue-manager.js';
import type { SpaceReport } from '../storage/types.js';

/** One second of the history. */
export interface Sample {
  at: number;
  puts: number;
  gets: number;
  syncs: number;
  /** Mean fdatasync latency of the second (µs), 0 when there was none. */
  syncMeanUs: number;
}

const HISTORY_SECONDS = 600;
const BODY_BYTES_MAX = 4 * 1024 * 1024;
const BROWSE_MAX = 100;
/** Live-feed connections at once. */
const EVENT_STREAMS_MAX = 32;

export class ConsoleApi {
  readonly #controller: Controller;
  readonly #admin: ChannelAdmin;
  readonly #members: QueueManager[];
  readonly #workers: Map<string, Record<string, number>>;
  readonly history: Sample[] = [];
  readonly #streams = new Set<http.ServerResponse>();
  #last: { puts: number; gets: number; syncs: number; syncNs: number } | undefined;
  #device = 'file';
  readonly #timer: NodeJS.Timeout;

  constructor(controller: Controller, admin: ChannelAdmin, members: QueueManager[],
    workers: Map<string, Record<string, number>>) {
    this.#controller = controller;
    this.#admin = admin;
    this.#members = members;
    this.#workers = workers;
    void stat(controller.path).then((info) => {
      this.#device = info.isBlockDevice() ? 'block device' : 'file';
    }, () => undefined);
    this.#timer = setInterval(() => void this.#tick(), 1000);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
    for (const stream of this.#streams) stream.end();
    this.#streams.clear();
  }

  async #tick(): Promise<void> {
    if (!this.#controller.mounted) return;
    const queues = this.#controller.queueList();
    const stats = this.#controller.lun.stats();
    const now = { puts: queues.reduce((s, q) => s + q.puts, 0), gets: queues.reduce((s, q) => s + q.gets, 0),
      syncs: stats.syncs, syncNs: stats.syncNs };
    const last = this.#last ?? now;
    const syncs = now.syncs - last.syncs;
    this.history.push({ at: Date.now(), puts: now.puts - last.puts, gets: now.gets - last.gets, syncs,
      syncMeanUs: syncs > 0 ? Math.round((now.syncNs - last.syncNs) / syncs / 1000) : 0 });
    if (this.history.length > HISTORY_SECONDS) this.history.shift();
    this.#last = now;
    if (this.#streams.size > 0) {
      const data = `event: state\ndata: ${JSON.stringify(await this.state())}\n\n`;
      for (const stream of this.#streams) stream.write(data);
    }
  }

  /** Everything the views show. */
  async state(): Promise<Record<string, unknown>> {
    const controller = this.#controller;
    const space = controller.lun.space();
    const recent = this.history.slice(-300).filter((s) => s.syncs > 0).map((s) => s.syncMeanUs)
      .sort((a, b) => a - b);
    const pick = (p: number) => recent.length === 0 ? 0 : recent[Math.min(recent.length - 1, Math.floor(recent.length * p))];
    const lastTen = this.history.slice(-10);
    const queues = await Promise.all(controller.queueList().map(async (q) => ({
      name: q.name, depth: q.depth, maxDepth: q.attributes.maxDepth, uncommitted: q.uncommitted,
      openInput: q.openInput, puts: q.puts, gets: q.gets,
      oldestAgeMs: q.depth === 0 ? 0 : await this.#oldestAge(q.name),
    })));
    const channels = await this.#admin.status();
    const alarms: string[] = [];
    if (space.freeSegments <= Math.max(2, space.segmentCount * 0.1)) {
      alarms.push(`the LUN is nearly full: ${space.freeSegments} of ${space.segmentCount} segments free`);
    }
    for (const q of queues) {
      if (q.maxDepth > 0 && q.depth >= q.maxDepth * 0.8) alarms.push(`queue ${q.name} is at ${q.depth} of its ${q.maxDepth}`);
    }
    for (const qm of this.#members) if (!qm.running) alarms.push(`queue manager ${qm.name} is not running`);
    for (const c of channels) if (c.status === 'retrying' || c.status === 'stopped') alarms.push(`channel ${c.name} is ${c.status}`);
    if (controller.inDoubt().length > 0) alarms.push(`${controller.inDoubt().length} units of work in doubt`);
    return {
      at: Date.now(),
      lun: { path: controller.path, device: this.#device, sizeBytes: controller.lun.geometry.sizeBytes,
        segmentBytes: space.segmentBytes, usedBytes: space.usedBytes, liveBytes: space.liveBytes,
        usedSegments: space.usedSegments, freeSegments: space.freeSegments,
        segments: segmentPicture(space) },
      mountReport: controller.mountReport,
      fsync: { p50Us: pick(0.5), p99Us: pick(0.99) },
      rates: { putsPerSecond: lastTen.reduce((s, x) => s + x.puts, 0) / Math.max(1, lastTen.length),
        getsPerSecond: lastTen.reduce((s, x) => s + x.gets, 0) / Math.max(1, lastTen.length) },
      history: this.history.slice(-300),
      alarms,
      queueManagers: this.#members.map((qm) => ({ name: qm.name, personality: qm.personality,
        running: qm.running, address: qm.address,
        connections: this.#workers.get(qm.name)?.['applications'] ?? 0,
        channelInitiator: qm.channelInitiator?.running ?? false })),
      queues,
      channels: channels.map((c) => ({ name: c.name, type: c.type, status: c.status,
        owner: c.entry?.owner ?? '', instance: c.entry?.instance ?? 0,
        sentSequence: c.entry?.sentSequence ?? 0, committedSequence: c.entry?.committedSequence ?? 0,
        transmissionQueue: c.entry?.transmissionQueue ?? '', remoteQueueManager: c.entry?.remoteQueueManager ?? '',
        updated: c.entry?.updated.getTime() ?? 0 })),
      units: {
        open: controller.syncpoint.units().map((u) => ({ id: u.id, owner: u.owner, state: u.state,
          puts: u.puts.length, gets: u.gets.length })),
        inDoubt: controller.inDoubt().map((u) => ({ xid: u.xid, puts: u.puts, gets: u.gets, queues: u.queues })),
      },
      locks: controller.locks.snapshot(),
    };
  }

  async #oldestAge(queue: string): Promise<number> {
    const session = this.#controller.session();
    try {
      const first = await session.browse(queue).first();
      return Date.now() - first.putTime.getTime();
    } catch {
      return 0;
    } finally {
      await session.close();
    }
  }

  async #browse(queue: string, limit: number): Promise<unknown[]> {
    const session = this.#controller.session();
    const out: unknown[] = [];
    try {
      const cursor = session.browse(queue);
      for (let i = 0; i < limit; i++) {
        let message;
        try {
          message = await cursor.next();
        } catch (error) {
          if ((error as { code?: string }).code === 'E_NO_MSG') break;
          throw error;
        }
        out.push({ messageId: message.messageId.toString('hex'), correlationId: message.correlationId.toString('hex'),
          priority: message.priority, persistent: message.persistent, format: message.format,
          putTime: message.putTime.getTime(), backoutCount: message.backoutCount,
          properties: Object.fromEntries(Object.entries(message.properties).map(([k, v]) =>
            [k, typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v])),
          length: message.body.length, hex: message.body.subarray(0, 4096).toString('hex'),
          text: message.body.subarray(0, 4096).toString('utf8') });
      }
    } finally {
      await session.close();
    }
    return out;
  }

  /** Serves /api/…; false when the path is not the API's. */
  async serve(request: http.IncomingMessage, response: http.ServerResponse, path: string): Promise<boolean> {
    const send = (status: number, value: unknown): void => {
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(value));
    };
    const method = request.method ?? 'GET';
    const parts = path.split('/').filter((p) => p !== '').map(decodeURIComponent);
    if (parts[0] !== 'api') return false;
    try {
      if (method === 'GET' && parts[1] === 'state') {
        send(200, await this.state());
      } else if (method === 'GET' && parts[1] === 'events') {
        if (this.#streams.size >= EVENT_STREAMS_MAX) {
          send(503, { code: 'E_BUSY', message: `at most ${EVENT_STREAMS_MAX} live feeds` });
          return true;
        }
        response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache',
          connection: 'keep-alive' });
        response.write(`event: state\ndata: ${JSON.stringify(await this.state())}\n\n`);
        this.#streams.add(response);
        request.on('close', () => this.#streams.delete(response));
      } else if (parts[1] === 'queues' && parts[2] !== undefined) {
        const queue = parts[2];
        if (method === 'GET' && parts[3] === 'messages') {
          send(200, await this.#browse(queue, BROWSE_MAX));
        } else if (method === 'POST' && parts[3] === 'put') {
          const input = JSON.parse(await readBody(request) || '{}') as { text?: unknown; persistent?: unknown;
            properties?: unknown };
          if (typeof input.text !== 'string') throw new SanmqError('E_INVALID_ARGUMENT', 'a test put needs { text }');
          const session = this.#controller.session();
          try {
            const result = await session.put(queue, { body: input.text,
              ...(typeof input.persistent === 'boolean' ? { persistent: input.persistent } : {}),
              ...(typeof input.properties === 'object' && input.properties !== null
                ? { properties: input.properties as Record<string, string> } : {}) });
            send(200, { messageId: result.messageId.toString('hex') });
          } finally {
            await session.close();
          }
        } else if (method === 'POST' && parts[3] === 'purge') {
          send(200, { purged: await this.#controller.clearQueue(queue) });
        } else {
          send(404, { code: 'E_INVALID_ARGUMENT', message: `no ${method} ${path}` });
        }
      } else if (method === 'POST' && parts[1] === 'members' && parts[2] !== undefined) {
        const qm = this.#members.find((m) => m.name === parts[2]);
        if (qm === undefined) throw new SanmqError('E_INVALID_ARGUMENT', `no queue manager ${parts[2]} here`);
        if (parts[3] === 'kill') await qm.terminate();
        else if (parts[3] === 'stop') await qm.stop();
        else if (parts[3] === 'start') await qm.restart();
        else throw new SanmqError('E_INVALID_ARGUMENT', 'a member takes start, stop or kill');
        send(200, { name: qm.name, running: qm.running });
      } else if (method === 'POST' && parts[1] === 'units' && parts[2] !== undefined && parts[3] === 'resolve') {
        const { outcome } = JSON.parse(await readBody(request) || '{}') as { outcome?: unknown };
        if (outcome !== 'commit' && outcome !== 'rollback') {
          throw new SanmqError('E_INVALID_ARGUMENT', "outcome must be 'commit' or 'rollback'");
        }
        await this.#controller.resolve(parts[2], outcome);
        send(200, { xid: parts[2], outcome });
      } else {
        send(404, { code: 'E_INVALID_ARGUMENT', message: `no ${method} ${path}` });
      }
    } catch (error) {
      const coded = error as { code?: string; message?: string };
      const status = coded.code === 'E_INVALID_ARGUMENT' || error instanceof SyntaxError ? 400
        : coded.code === 'E_UNKNOWN_QUEUE' || coded.code === 'E_UNKNOWN_XID' ? 404 : 409;
      send(status, { code: coded.code ?? 'E_INVALID_ARGUMENT', message: coded.message ?? String(error) });
    }
    return true;
  }
}

/** Every segment of the LUN: free, live (with how much of it is live) or being compacted. */
function segmentPicture(space: SpaceReport): Array<{ index: number; state: string; liveRatio: number }> {
  const picture = Array.from({ length: space.segmentCount }, (_, index) =>
    ({ index, state: 'free', liveRatio: 0 }));
  for (const s of space.segments) {
    if (s.index < 0 || s.index >= picture.length || (s.writtenBytes === 0 && !s.freeing)) continue;
    picture[s.index] = { index: s.index, state: s.freeing ? 'compacting' : 'live',
      liveRatio: s.writtenBytes === 0 ? 0 : Math.min(1, s.liveBytes / s.writtenBytes) };
  }
  return picture;
}

/** A request's body as text, refused (E_INVALID_ARGUMENT) beyond `max` bytes. */
export async function readBody(request: http.IncomingMessage, max = BODY_BYTES_MAX,
  what = 'a request body'): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of request) {
    bytes += (chunk as Buffer).length;
    if (bytes > max) throw new SanmqError('E_INVALID_ARGUMENT', `${what} is at most ${max} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
