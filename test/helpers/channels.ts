/**
 * Channels in tests: a remote queue manager outside the group in a process of its own
 * (src/channels/site.ts), the group's queue managers with channel initiators started
 * from the compiled tree, and a watcher of the shared channel status table.
 */
import { join } from 'node:path';

import type { Controller } from '../../src/index.js';
import { StatusTable, type StatusEntry } from '../../src/channels/status.js';
import type { QueueManager } from '../../src/qm/queue-manager.js';
import { SiteProcess } from '../../src/channels/site-process.js';
import type { SiteConfig } from '../../src/channels/site.js';
import { compiledTree } from './compile.js';
import { testDir } from './lun.js';
import { sleep, type MqTest } from './mq.js';
import { startQm } from './qm.js';

export type RemoteSite = SiteProcess & { lun: string };

/** Starts a remote site from the compiled tree; it is killed when the test ends if still running. */
export async function startRemoteSite(t: MqTest, config: Omit<SiteConfig, 'lun'> & { lun?: string }):
Promise<RemoteSite> {
  const lun = config.lun ?? join(testDir(t), `${config.qm}-${process.pid}-${sites++}.lun`);
  const site = await SiteProcess.spawn({ ...config, lun },
    join(compiledTree(), 'src', 'channels', 'site-main.js'));
  t.teardown(() => site.kill());
  return Object.assign(site, { lun });
}

let sites = 0;

/** The compiled worker entry of a channel initiator. */
export function initiatorEntry(): string {
  return join(compiledTree(), 'src', 'channels', 'worker.js');
}

/** Starts a queue manager with its channel initiator, from the compiled tree. */
export async function startMember(t: MqTest, controller: Controller, name: string,
  personality: 'mq' | 'jms' = 'mq'): Promise<QueueManager> {
  return startQm(t, controller, { name, personality,
    channels: { execArgv: [], entry: initiatorEntry() } });
}

/**
 * Watches the status entries of the group every few milliseconds and checks, for each
 * channel, that an instance number belongs to one owner only (no two instances share one)
 * and that instance numbers never go back.
 */
export function watchStatus(controller: Controller, slots: number[]): {
  stop(): Promise<{ problems: string[]; seen: StatusEntry[] }>; } {
  const table = new StatusTable(controller.lun.slots);
  const owners = new Map<string, string>();
  const last = new Map<number, number>();
  const problems: string[] = [];
  const seen: StatusEntry[] = [];
  let running = true;
  const loop = (async () => {
    for (let i = 0; running && i < 200_000 && controller.mounted; i++) {
      for (const read of await table.list(slots).catch(() => [])) {
        const entry = read.entry;
        if (entry === undefined) continue;
        const before = last.get(read.slot) ?? 0;
        if (entry.instance < before) problems.push(`${entry.channel}: instance ${entry.instance} after ${before}`);
        last.set(read.slot, entry.instance);
        if (entry.status === 'running') {
          const key = `${entry.channel}#${entry.instance}`;
          const owner = owners.get(key);
          if (owner !== undefined && owner !== entry.owner) {
            problems.push(`${key} ran on ${owner} and on ${entry.owner}`);
          }
          owners.set(key, entry.owner);
        }
        const previous = seen[seen.length - 1];
        if (previous === undefined || previous.status !== entry.status || previous.owner !== entry.owner ||
            previous.instance !== entry.instance) seen.push(entry);
      }
      await sleep(5);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return { problems, seen };
    },
  };
}

/** Polls `check` every 20 ms until it is true; fails after `timeoutMs`. */
export async function until(what: string, check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return;
    await sleep(20);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}
