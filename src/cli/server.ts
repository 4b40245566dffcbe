/**
 * `sanmq mount`: a controller on a LUN with the queue managers of its group (from a config
 * file, or two members of different personalities), their application listeners and channel
 * initiators, the group's generic channel address, and an admin HTTP endpoint: JSON status at
 * GET /status, Prometheus metrics at GET /metrics (the worker threads' metrics merged here),
 * and POST /mqsc, which runs an MQSC script against the controller. Everything listens on
 * 127.0.0.1 unless the config says otherwise.
 */
import http from 'node:http';
import { readFile } from 'node:fs/promises';

import client from 'prom-client';
import type { Logger } from 'pino';

import { SanmqError } from '../errors.js';
import { Controller } from '../controller/controller.js';
import { ChannelAdmin } from '../channels/admin.js';
import { CHANNEL_STATUSES } from '../channels/status.js';
import type { Listener } from '../protocol/listener.js';
import type { QueueManager } from '../qm/queue-manager.js';
import { parseScript, runCommands } from './mqsc.js';
import { ConsoleApi, readBody } from './console.js';
import { CONSOLE_PAGE } from './console-page.js';

export interface MemberConfig {
  name: string;
  personality: 'mq' | 'jms';
  /** Its application listener (0: any free port). */
  port: number;
  ccsid?: number;
  channels?: boolean;
}

export interface MountConfig {
  queueManagers: MemberConfig[];
  admin: { host: string; port: number };
  /** The group's generic inbound channel address (absent: none). */
  channelPort?: number;
}

export const DEFAULT_CONFIG: MountConfig = {
  queueManagers: [
    { name: 'QM1', personality: 'mq', port: 1414, channels: true },
    { name: 'QM2', personality: 'jms', port: 1415, channels: true },
  ],
  admin: { host: '127.0.0.1', port: 9414 },
};

/** The largest MQSC script POST /mqsc takes. */
const SCRIPT_BYTES_MAX = 1024 * 1024;

export async function readConfig(path: string | undefined): Promise<MountConfig> {
  if (path === undefined) return DEFAULT_CONFIG;
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new SanmqError('E_INVALID_ARGUMENT', `config ${path}: ${(error as Error).message}`);
  }
  const config = value as Partial<MountConfig>;
  if (!Array.isArray(config.queueManagers) || config.queueManagers.length === 0 ||
      config.queueManagers.some((m) => typeof m?.name !== 'string' || typeof m.port !== 'number')) {
    throw new SanmqError('E_INVALID_ARGUMENT', `config ${path}: queueManagers must list members ` +
      'with a name, a personality and a port');
  }
  return { queueManagers: config.queueManagers, admin: { ...DEFAULT_CONFIG.admin, ...config.admin },
    ...(typeof config.channelPort === 'number' ? { channelPort: config.channelPort } : {}) };
}

export interface Mounted {
  controller: Controller;
  members: QueueManager[];
  admin: { host: string; port: number };
  channelAddress: { host: string; port: number } | undefined;
  close(): Promise<void>;
}

export async function mount(lun: string, config: MountConfig, log: Logger): Promise<Mounted> {
  const controller = await Controller.mount(lun);
  const closers: Array<() => Promise<void>> = [];
  try {
    log.info({ lun, report: controller.mountReport }, 'controller mounted');
    const members: QueueManager[] = [];
    const workerMetrics = new Map<string, Record<string, number>>();
    for (const member of config.queueManagers) {
      const qm = await controller.startQueueManager({ name: member.name, personality: member.personality,
        ...(member.ccsid === undefined ? {} : { ccsid: member.ccsid }),
        listen: { port: member.port }, channels: member.channels !== false });
      qm.on('metrics', (data: Record<string, number>) => workerMetrics.set(qm.name, data));
      qm.on('ended', (event: Record<string, unknown>) => log.warn(event, 'queue manager ended'));
      qm.channelInitiator?.on('ended', (event: Record<string, unknown>) =>
        log.info({ member: qm.name, ...event }, 'channel instance ended'));
      members.push(qm);
      log.info({ name: qm.name, personality: qm.personality, address: qm.address }, 'queue manager started');
    }
    const admin = new ChannelAdmin(controller);
    let generic: Listener | undefined;
    if (config.channelPort !== undefined) {
      generic = await admin.listenGeneric({ port: config.channelPort });
      closers.push(() => (generic as Listener).close());
    }
    const registry = metrics(controller, admin, workerMetrics);
    const consoleApi = new ConsoleApi(controller, admin, members, workerMetrics);
    closers.push(async () => consoleApi.close());
    const server = http.createServer((request, response) => {
      void serve(controller, admin, registry, members, consoleApi, request, response).catch((error: unknown) => {
        log.error({ err: error }, 'admin request failed');
        if (!response.headersSent) response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ code: 'E_INTERNAL', message: String(error) }));
      });
    });
    server.maxConnections = 64;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new SanmqError(
        error.code === 'EADDRINUSE' ? 'E_BUSY' : 'E_IO',
        `cannot listen on ${config.admin.host}:${config.admin.port}: ${error.message}`)));
      server.listen(config.admin.port, config.admin.host, resolve);
    });
    closers.push(() => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }));
    const address = server.address() as { port: number };
    log.info({ host: config.admin.host, port: address.port }, 'admin endpoint listening');
    return {
      controller, members, admin: { host: config.admin.host, port: address.port },
      channelAddress: generic === undefined ? undefined : { host: generic.host, port: generic.port },
      close: async () => {
        for (const close of closers.reverse()) await close().catch(() => undefined);
        await controller.unmount();
        log.info('controller unmounted');
      },
    };
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await controller.unmount().catch(() => undefined);
    throw error;
  }
}


async function serve(controller: Controller, admin: ChannelAdmin, registry: client.Registry,
  members: QueueManager[], consoleApi: ConsoleApi, request: http.IncomingMessage,
  response: http.ServerResponse): Promise<void> {
  const send = (status: number, value: unknown): void => {
    response.writeHead(status, { 'content-type': 'application/json' });
    response.end(JSON.stringify(value));
  };
  const path = (request.url ?? '/').split('?')[0] ?? '/';
  if (await consoleApi.serve(request, response, path)) return;
  if (request.method === 'GET' && (path === '/' || path === '/console')) {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8',
      'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'" });
    response.end(CONSOLE_PAGE);
  } else if (request.method === 'GET' && path === '/favicon.ico') {
    response.writeHead(204);
    response.end();
  } else if (request.method === 'GET' && path === '/metrics') {
    response.writeHead(200, { 'content-type': registry.contentType });
    response.end(await registry.metrics());
  } else if (request.method === 'GET' && path === '/status') {
    // The console's state: one JSON API for the console and for `sanmq status --json`.
    send(200, await consoleApi.state());
  } else if (request.method === 'POST' && path === '/mqsc') {
    let commands;
    try {
      commands = parseScript(await readBody(request, SCRIPT_BYTES_MAX, 'a script'));
    } catch (error) {
      const coded = error as SanmqError;
      send(400, { code: coded.code, message: coded.message });
      return;
    }
    send(200, { results: await runCommands(controller, commands) });
  } else {
    send(404, { code: 'E_INVALID_ARGUMENT', message: `no ${request.method ?? ''} ${path} here; ` +
      'GET / (the console), GET /status, GET /metrics, POST /mqsc, /api/…' });
  }
}

function metrics(controller: Controller, admin: ChannelAdmin,
  workers: Map<string, Record<string, number>>): client.Registry {
  const registry = new client.Registry();
  const gauge = (name: string, help: string, labelNames: string[],
    collect: (g: client.Gauge) => void | Promise<void>) => new client.Gauge({ name, help, labelNames,
    registers: [registry], async collect() { this.reset(); await collect(this); } });
  gauge('sanmq_queue_depth', 'Messages on a queue, committed and uncommitted puts.', ['queue'], (g) => {
    for (const q of controller.queueList()) g.set({ queue: q.name }, q.depth);
  });
  gauge('sanmq_queue_puts_total', 'Messages put to a queue since the mount.', ['queue'], (g) => {
    for (const q of controller.queueList()) g.set({ queue: q.name }, q.puts);
  });
  gauge('sanmq_queue_gets_total', 'Messages gotten from a queue since the mount.', ['queue'], (g) => {
    for (const q of controller.queueList()) g.set({ queue: q.name }, q.gets);
  });
  gauge('sanmq_in_doubt_units', 'Prepared units of work awaiting resolution.', [], (g) => {
    g.set(controller.inDoubt().length);
  });
  gauge('sanmq_lun_live_bytes', 'Bytes of live records on the LUN.', [], (g) => {
    g.set(controller.lun.space().liveBytes);
  });
  gauge('sanmq_lun_free_segments', 'Free segments of the LUN.', [], (g) => {
    g.set(controller.lun.space().freeSegments);
  });
  gauge('sanmq_lun_syncs_total', 'fdatasync calls of the LUN since the mount.', [], (g) => {
    g.set(controller.lun.stats().syncs);
  });
  gauge('sanmq_members', 'Members connected to the controller.', ['role'], (g) => {
    for (const role of ['queue-manager', 'channel-initiator']) {
      g.set({ role }, controller.members.members().filter((m) => m.role === role && !m.ending).length);
    }
  });
  gauge('sanmq_channel_status', 'A channel\'s status in the shared status table (1 for its status).',
    ['channel', 'status'], async (g) => {
      for (const row of await admin.status()) {
        for (const s of CHANNEL_STATUSES) g.set({ channel: row.name, status: s }, row.status === s ? 1 : 0);
      }
    });
  gauge('sanmq_channel_committed_sequence', 'The last batch a channel committed.', ['channel'], async (g) => {
    for (const row of await admin.status()) g.set({ channel: row.name }, row.entry?.committedSequence ?? 0);
  });
  gauge('sanmq_qm_applications', 'Application connections a queue manager serves (from its thread).',
    ['qm'], (g) => {
      for (const [qm, data] of workers) g.set({ qm }, data['applications'] ?? 0);
    });
  gauge('sanmq_qm_requests_total', 'Application requests a queue manager served (from its thread).',
    ['qm'], (g) => {
      for (const [qm, data] of workers) g.set({ qm }, data['requests'] ?? 0);
    });
  gauge('sanmq_qm_heap_used_bytes', 'V8 heap in use in a queue manager\'s thread.', ['qm'], (g) => {
    for (const [qm, data] of workers) g.set({ qm }, data['heapUsedBytes'] ?? 0);
  });
  client.collectDefaultMetrics({ register: registry, prefix: 'sanmq_process_' });
  return registry;
}
