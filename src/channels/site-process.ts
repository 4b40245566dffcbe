/**
 * A site (src/channels/site.ts) in a child process, seen from the process that started it:
 * the remote queue manager of the failover benchmark, the demo and the channel tests. It
 * answers JSON commands a line at a time; `stop` unmounts it (SIGTERM), `kill` is SIGKILL.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { SanmqError } from '../errors.js';
import type { SiteConfig } from './site.js';

/** Longest wait for a site to start, and for an answer to a command. */
const START_TIMEOUT_MS = 30_000;
const COMMAND_TIMEOUT_MS = 60_000;

export class SiteProcess {
  readonly child: ChildProcess;
  readonly config: SiteConfig;
  port = 0;
  readonly exited: Promise<void>;
  #exited = false;
  #buffer = '';
  #stderr = '';
  readonly #waiting: Array<(line: string) => void> = [];
  #onReady: ((port: number) => void) | undefined;

  private constructor(config: SiteConfig, entry: string) {
    this.config = config;
    this.child = spawn(process.execPath, [entry, JSON.stringify(config)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.exited = new Promise<void>((resolve) => this.child.once('exit', () => {
      this.#exited = true;
      for (const waiter of this.#waiting.splice(0)) {
        waiter(JSON.stringify({ ok: false, code: 'E_CONNECTION_BROKEN', message: 'the site exited' }));
      }
      resolve();
    }));
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4096);
    });
    this.child.stdout?.on('data', (chunk: Buffer) => this.#read(chunk));
  }

  /** Starts a site; `entry` is its script (the compiled site-main.js beside this file). */
  static async spawn(config: SiteConfig, entry = fileURLToPath(new URL('./site-main.js', import.meta.url))):
  Promise<SiteProcess> {
    const site = new SiteProcess(config, entry);
    site.port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        site.child.kill('SIGKILL');
        reject(new SanmqError('E_QM_NOT_AVAILABLE', `the site did not start in ${START_TIMEOUT_MS} ms: ${site.#stderr}`));
      }, START_TIMEOUT_MS);
      site.#onReady = (port) => {
        clearTimeout(timer);
        resolve(port);
      };
      void site.exited.then(() => {
        clearTimeout(timer);
        reject(new SanmqError('E_QM_NOT_AVAILABLE', `the site exited while starting: ${site.#stderr}`));
      });
    });
    return site;
  }

  get running(): boolean {
    return !this.#exited;
  }

  #read(chunk: Buffer): void {
    this.#buffer += chunk.toString();
    let newline;
    while ((newline = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, newline);
      this.#buffer = this.#buffer.slice(newline + 1);
      if (line.startsWith('ready ')) this.#onReady?.(Number(line.slice(6)));
      else this.#waiting.shift()?.(line);
    }
  }

  /** Sends a command; resolves its result, rejects with its coded error. */
  command(op: Record<string, unknown>): Promise<unknown> {
    if (this.#exited) return Promise.reject(new SanmqError('E_CONNECTION_BROKEN', 'the site exited'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new SanmqError('E_CONNECTION_BROKEN',
        `the site did not answer ${String(op['op'])} within ${COMMAND_TIMEOUT_MS} ms`)), COMMAND_TIMEOUT_MS);
      this.#waiting.push((line) => {
        clearTimeout(timer);
        const answer = JSON.parse(line) as { ok: boolean; result?: unknown; code?: string; message?: string };
        if (answer.ok) resolve(answer.result);
        else reject(new SanmqError((answer.code ?? 'E_INTERNAL') as 'E_INTERNAL', answer.message ?? ''));
      });
      this.child.stdin?.write(`${JSON.stringify(op)}\n`);
    });
  }

  /** Unmounts it cleanly (SIGTERM) and waits for its exit. */
  async stop(): Promise<void> {
    if (!this.#exited) this.child.kill('SIGTERM');
    await this.exited;
  }

  /** SIGKILL, and waits for its exit. */
  async kill(): Promise<void> {
    if (!this.#exited) this.child.kill('SIGKILL');
    await this.exited;
  }
}
