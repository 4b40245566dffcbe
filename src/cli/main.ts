#!/usr/bin/env node
/**
 * The `sanmq` command: format, inspect and check LUNs; mount one with the queue managers of its
 * group; put, get and browse messages through a queue manager; administer with MQSC. Every
 * listing has --json; tables only on a terminal; errors are one line on stderr with a stable
 * exit code (output.ts).
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

import { exists } from '../files.js';

import { Command, CommanderError, Option } from 'commander';
import { pino } from 'pino';

import { Lun } from '../storage/lun.js';
import { connectQueueManager, type JmsConnection, type MqConnection } from '../qm/client.js';
import { inspectLun, type LunReport } from './inspect.js';
import { parseScript } from './mqsc.js';
import {
  CliError,
  errorLine,
  EXIT,
  exitCodeOf,
  formatBytes,
  outputOf,
  parseSize,
  printFields,
  printJson,
  printRows,
} from './output.js';
import { mount, readConfig, type Mounted } from './server.js';
import { printMessage } from './dump.js';
import { runBench, type BenchParameters } from './bench.js';

const program = new Command();
program.name('sanmq').description('A SAN controller emulator that hosts message queues.')
  .version('0.1.0').showSuggestionAfterError(true)
  .exitOverride()
  .configureOutput({ outputError: (text, write) => write(`sanmq: ${text.replace(/^error: /, '')}`) });

const jsonOption = new Option('--json', 'print JSON instead of text');

/** A progress line on stderr, only on a terminal. */
function progress(label: string): (done: number, total: number) => void {
  if (process.stderr.isTTY !== true) return () => undefined;
  let last = -1;
  return (done, total) => {
    const percent = total === 0 ? 100 : Math.min(100, Math.floor((done / total) * 100));
    if (percent === last) return;
    last = percent;
    const width = 30;
    const filled = Math.round((percent / 100) * width);
    process.stderr.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${percent}%`);
    if (percent === 100) process.stderr.write('\n');
  };
}

program.command('format').description('format a file or block device as a LUN')
  .argument('<lun>', 'the file (created when missing) or block device')
  .requiredOption('--size <size>', 'size of a file LUN, e.g. 1GiB (a block device: its own size)')
  .option('--force', 'format over data that is not an empty file or device')
  .option('--prefill', 'zero-fill every segment now')
  .option('--label <label>', 'a label kept in the superblock', '')
  .addOption(jsonOption)
  .action(async (lun: string, options: { size: string; force?: boolean; prefill?: boolean;
    label: string; json?: boolean; }) => {
    const out = outputOf(options);
    const geometry = await Lun.format(lun, { sizeBytes: parseSize(options.size), force: options.force === true,
      prefill: options.prefill === true, label: options.label, onProgress: progress('formatting') });
    if (out.json) printJson(geometry);
    else {
      printFields([['lun', lun], ['size', formatBytes(geometry.sizeBytes)], ['segments', geometry.segmentCount],
        ['segment size', formatBytes(geometry.segmentBytes)], ['block size', geometry.blockBytes],
        ['CAS slots', geometry.casSlots], ['uuid', geometry.uuid]]);
    }
  });

function printReport(report: LunReport, check: boolean): void {
  const g = report.geometry;
  printFields([['lun', `${report.path} (${report.device})`], ['uuid', g.uuid],
    ['size', formatBytes(g.sizeBytes)], ['segments', `${report.space.usedSegments} used, ` +
      `${report.space.freeSegments} free of ${report.space.segmentCount} × ${formatBytes(g.segmentBytes)}`],
    ['live', `${report.space.liveRecords} records, ${formatBytes(report.space.liveBytes)}`],
    ['recovery scan', `${formatBytes(report.recovery.scannedBytes)} in ${report.recovery.scanMs.toFixed(1)} ms`],
    ...(check ? [['verified', `${report.verifiedRecords} records, ${formatBytes(report.verifiedBytes)}`] as [string, string]] : []),
    ['in doubt', report.inDoubt.length], ['problems', report.problems.length]]);
  const out = outputOf({});
  if (report.queues.length > 0) {
    process.stdout.write('\n');
    printRows(out, ['QUEUE', 'DEPTH', 'BYTES'], report.queues.map((q) => [q.name, q.depth, q.bytes]));
  }
  if (report.channels.length > 0) {
    process.stdout.write('\n');
    printRows(out, ['CHANNEL', 'TYPE', 'STATUS SLOT'], report.channels.map((c) => [c.name, c.type, c.statusSlot]));
  }
  if (report.inDoubt.length > 0) {
    process.stdout.write('\n');
    printRows(out, ['XID (IN DOUBT)', 'MESSAGES'], report.inDoubt.map((u) => [u.xid, u.messages]));
  }
  for (const problem of report.problems) {
    process.stdout.write(`problem at address ${problem.address}: ${problem.reason}\n`);
  }
}

program.command('info').description('what a LUN holds (offline: the LUN must not be mounted)')
  .argument('<lun>').addOption(jsonOption)
  .action(async (lun: string, options: { json?: boolean }) => {
    const report = await inspectLun(lun);
    if (options.json === true) printJson(report);
    else printReport(report, false);
  });

program.command('check').description('verify every checksum of a LUN (offline); exit 0 only when clean')
  .argument('<lun>').addOption(jsonOption)
  .action(async (lun: string, options: { json?: boolean }) => {
    const report = await inspectLun(lun, { verify: true, onProgress: progress('checking') });
    if (options.json === true) printJson({ clean: report.problems.length === 0, ...report });
    else printReport(report, true);
    if (report.problems.length > 0) {
      throw new CliError(`${lun}: ${report.problems.length} problems found`, EXIT.corrupt, 'E_CORRUPT');
    }
  });

program.command('mount').description('mount a LUN and run its queue managers in the foreground')
  .argument('<lun>').option('--config <file>', 'sanmq.json: queue managers, ports, admin endpoint')
  .option('--create <size>', 'format the LUN file (sparse) first when it does not exist')
  .option('--log-level <level>', 'pino log level', 'info').addOption(jsonOption)
  .action(async (lun: string, options: { config?: string; create?: string; logLevel: string;
    json?: boolean; }) => {
    const log = pino({ level: options.logLevel, base: { pid: process.pid } }, pino.destination(2));
    const created = options.create !== undefined && !(await exists(lun));
    if (created) {
      await mkdir(dirname(resolve(lun)), { recursive: true });
      await Lun.format(lun, { sizeBytes: parseSize(options.create as string), label: 'default' });
      log.info({ lun, size: options.create }, 'LUN formatted');
    }
    const mounted: Mounted = await mount(lun, await readConfig(options.config), log);
    // A new LUN gets a queue to try things on, as IBM MQ's developer images have.
    if (created) await mounted.controller.defineQueue('DEV.QUEUE.1', { defaultPersistent: true });
    const endpoints = { lun, admin: mounted.admin, channels: mounted.channelAddress,
      queueManagers: mounted.members.map((qm) => ({ name: qm.name, personality: qm.personality,
        port: qm.address?.port, channelPort: qm.channelInitiator?.address?.port })) };
    if (options.json === true) printJson({ ready: true, ...endpoints });
    else {
      process.stdout.write(`sanmq: ${lun} mounted; admin http://${mounted.admin.host}:${mounted.admin.port}/status\n`);
      for (const qm of endpoints.queueManagers) {
        process.stdout.write(`  ${qm.name} (${qm.personality}) on 127.0.0.1:${qm.port ?? '?'}\n`);
      }
      const first = endpoints.queueManagers[0];
      const port = first?.port === 1414 ? '' : ` --port ${first?.port ?? '?'}`;
      const queue = mounted.controller.queueNames().includes('DEV.QUEUE.1') ? 'DEV.QUEUE.1' : 'YOUR.QUEUE';
      process.stdout.write(`try: echo hello | npm run -s sanmq -- put ${queue}${port} && ` +
        `npm run -s sanmq -- get ${queue}${port}\n(Ctrl-C unmounts)\n`);
    }
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        log.info({ signal }, 'unmounting');
        resolve();
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });
    await mounted.close();
  });

const connectOptions = (command: Command): Command => command
  .option('--host <host>', 'the queue manager\'s host', '127.0.0.1')
  .option('--port <port>', 'the queue manager\'s application port', '1414');

async function connect(options: { host: string; port: string }): Promise<MqConnection | JmsConnection> {
  const port = Number(options.port);
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    throw new CliError(`--port ${options.port} is not a port`, EXIT.usage);
  }
  return connectQueueManager({ host: options.host, port, connectTimeoutMs: 5_000 });
}

connectOptions(program.command('put').description('put messages (amqsput): each --message, or each line of stdin')
  .argument('<queue>').option('--message <text...>', 'message texts (else lines of stdin)')
  .option('--persistent', 'persistent messages (default: as the queue defines)')
  .option('--non-persistent', 'non-persistent messages')).addOption(jsonOption)
  .action(async (queue: string, options: { host: string; port: string; message?: string[];
    persistent?: boolean; nonPersistent?: boolean; json?: boolean; }) => {
    const persistent = options.persistent === true ? true : options.nonPersistent === true ? false : undefined;
    const connection = await connect(options);
    try {
      const texts = options.message ?? (await readStdin()).split(/\r?\n/).filter((line) => line !== '');
      for (const text of texts) {
        if (connection.personality === 'mq') {
          // MQPER_PERSISTENCE_AS_Q_DEF unless told, as amqsput does.
          await (connection as MqConnection).put(queue, { body: text,
            descriptor: { persistence: persistent === undefined ? 2 : persistent ? 1 : 0 } });
        } else {
          await (connection as JmsConnection).put(queue, { type: 'text', text,
            ...(persistent === undefined ? {} : { deliveryMode: persistent ? 'PERSISTENT' : 'NON_PERSISTENT' }) });
        }
      }
      if (options.json === true) printJson({ queue, put: texts.length });
      else process.stdout.write(`${texts.length} messages put to ${queue}\n`);
    } finally {
      connection.close();
    }
  });

connectOptions(program.command('get').description('get messages (amqsget): until the queue is empty')
  .argument('<queue>').option('--wait <seconds>', 'wait this long for more', '0')
  .option('--max <count>', 'at most this many', '1000')).addOption(jsonOption)
  .action(async (queue: string, options: { host: string; port: string; wait: string; max: string;
    json?: boolean; }) => {
    const connection = await connect(options);
    const got: unknown[] = [];
    try {
      for (let i = 0; i < Number(options.max); i++) {
        let message;
        try {
          message = await connection.get(queue, { waitMs: Math.round(Number(options.wait) * 1000) });
        } catch (error) {
          if ((error as { code?: string }).code === 'E_NO_MSG') break;
          throw error;
        }
        if (options.json === true) got.push(printMessage(message, true));
        else printMessage(message, false);
      }
    } finally {
      connection.close();
    }
    if (options.json === true) printJson(got);
  });

connectOptions(program.command('browse').description('browse messages (amqsbcg): descriptor and dump')
  .argument('<queue>').option('--max <count>', 'at most this many', '1000')).addOption(jsonOption)
  .action(async (queue: string, options: { host: string; port: string; max: string; json?: boolean }) => {
    const connection = await connect(options);
    const seen: unknown[] = [];
    try {
      const cursor = await connection.browse(queue);
      for (let i = 0; i < Number(options.max); i++) {
        let message;
        try {
          message = i === 0 ? await cursor.first() : await cursor.next();
        } catch (error) {
          if ((error as { code?: string }).code === 'E_NO_MSG') break;
          throw error;
        }
        if (options.json === true) seen.push(printMessage(message, true));
        else printMessage(message, false, i + 1);
      }
    } finally {
      connection.close();
    }
    if (options.json === true) printJson(seen);
  });

program.command('mqsc').description('run MQSC commands against a mounted controller (runmqsc)')
  .argument('[commands...]', 'commands (else --file, else stdin)')
  .option('--admin <host:port>', 'the admin endpoint of `sanmq mount`', '127.0.0.1:9414')
  .option('--file <file>', 'read the commands from a file')
  .option('--verify', 'check the syntax only (runmqsc -v); needs no controller')
  .addOption(jsonOption)
  .action(async (commands: string[], options: { admin: string; file?: string; verify?: boolean;
    json?: boolean; }) => {
    const script = commands.length > 0 ? commands.join('\n')
      : options.file !== undefined ? await readFile(options.file, 'utf8') : await readStdin();
    const parsed = parseScript(script);
    if (options.verify === true) {
      if (options.json === true) printJson({ verified: parsed.length });
      else process.stdout.write(`${parsed.length} commands verified\n`);
      return;
    }
    const response = await fetch(`http://${options.admin}/mqsc`, { method: 'POST', body: script })
      .catch((error: unknown) => {
        throw new CliError(`no mounted controller answers at ${options.admin}: ${(error as Error).message}`,
          EXIT.unavailable, 'E_QM_NOT_AVAILABLE');
      });
    const answer = await response.json() as { results?: Array<{ ok: boolean; line: number;
      command: string; message: string; code?: string; rows?: Array<Record<string, unknown>> }>;
      code?: string; message?: string; };
    if (answer.results === undefined) throw new CliError(answer.message ?? 'the controller refused the script', EXIT.usage, answer.code);
    if (options.json === true) printJson(answer.results);
    const out = outputOf(options);
    let failed = 0;
    for (const result of answer.results) {
      if (!result.ok) failed++;
      if (options.json === true) continue;
      process.stdout.write(`${result.command}\n`);
      if (!result.ok) {
        process.stdout.write(`  ${result.code ?? ''}: ${result.message}\n`);
        continue;
      }
      if (result.rows !== undefined && result.rows.length > 0) {
        const columns = Object.keys(result.rows[0] as object);
        printRows(out, columns, result.rows.map((row) => columns.map((c) => String(row[c] ?? ''))));
      } else {
        process.stdout.write(`  ${result.message}\n`);
      }
    }
    if (failed > 0) {
      throw new CliError(`${failed} of ${answer.results.length} commands failed`, EXIT.failure,
        answer.results.find((r) => !r.ok)?.code);
    }
  });

program.command('status').description('the status of a mounted controller')
  .option('--admin <host:port>', 'the admin endpoint of `sanmq mount`', '127.0.0.1:9414').addOption(jsonOption)
  .action(async (options: { admin: string; json?: boolean }) => {
    const response = await fetch(`http://${options.admin}/status`).catch((error: unknown) => {
      throw new CliError(`no mounted controller answers at ${options.admin}: ${(error as Error).message}`,
        EXIT.unavailable, 'E_QM_NOT_AVAILABLE');
    });
    const status = await response.json() as { queues: Array<Record<string, unknown>>;
      queueManagers: Array<Record<string, unknown>>; channels: Array<Record<string, unknown>> };
    if (options.json === true) {
      printJson(status);
      return;
    }
    const out = outputOf(options);
    printRows(out, ['QMNAME', 'PERSONALITY', 'RUNNING'], status.queueManagers.map((m) =>
      [String(m['name']), String(m['personality']), String(m['running'])]));
    process.stdout.write('\n');
    printRows(out, ['QUEUE', 'DEPTH', 'UNCOMMITTED', 'PUTS', 'GETS'], status.queues.map((q) =>
      [String(q['name']), Number(q['depth']), Number(q['uncommitted']), Number(q['puts']), Number(q['gets'])]));
    if (status.channels.length > 0) {
      process.stdout.write('\n');
      printRows(out, ['CHANNEL', 'STATUS', 'OWNER', 'BATCH'], status.channels.map((c) =>
        [String(c['name']), String(c['status']), String(c['owner']), Number(c['committedSequence'])]));
    }
  });

function whole(text: string, what: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new CliError(`--${what} ${text} must be a whole number from ${min} to ${max}`, EXIT.usage);
  }
  return value;
}

program.command('bench').description('measure durable messaging on this disk (like artemis perf client)')
  .addOption(new Option('--scenario <scenario>', 'put, get (a preloaded queue) or putget')
    .choices(['put', 'get', 'putget']).default('put'))
  .option('--size <size>', 'message size', '1KiB')
  .option('--producers <n>', 'producers', '1')
  .option('--consumers <n>', 'consumers', '1')
  .option('--non-persistent', 'non-persistent messages (default: persistent, acknowledged once durable)')
  .addOption(new Option('--route <route>', 'embedded sessions, or through a queue manager')
    .choices(['embedded', 'mq', 'jms']).default('embedded'))
  .option('--seconds <n>', 'how long to run', '5')
  .option('--rate <n>', 'messages per second in all (0: as fast as they go); latency then counts from when each was due', '0')
  .option('--preload <n>', 'messages preloaded for --scenario get (0: by the disk\'s rate)', '0')
  .option('--lun <path>', 'the benchmark\'s own LUN file (formatted, then removed)', 'sanmq-data/bench.lun')
  .option('--lun-size <size>', 'its size', '1GiB')
  .option('--hdr <file>', 'write the latency histograms as an HdrHistogram log')
  .addOption(jsonOption)
  .action(async (options: { scenario: BenchParameters['scenario']; size: string; producers: string;
    consumers: string; nonPersistent?: boolean; route: BenchParameters['route']; seconds: string;
    rate: string; preload: string; lun: string; lunSize: string; hdr?: string; json?: boolean; }) => {
    const params: BenchParameters = {
      scenario: options.scenario, messageBytes: parseSize(options.size),
      producers: whole(options.producers, 'producers', 1, 1024),
      consumers: whole(options.consumers, 'consumers', 1, 1024),
      persistent: options.nonPersistent !== true, route: options.route,
      seconds: whole(options.seconds, 'seconds', 1, 86_400), rate: whole(options.rate, 'rate', 0, 10_000_000),
      lun: options.lun, lunBytes: parseSize(options.lunSize),
      preload: whole(options.preload, 'preload', 0, 100_000_000),
    };
    // Under --json the lines go to stderr and stdout holds only the result.
    const print = (line: string) => (options.json === true ? process.stderr : process.stdout).write(`${line}\n`);
    const result = await runBench(params, print, options.hdr);
    if (options.json === true) printJson(result);
  });

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY === true) throw new CliError('nothing to read: give the input as arguments or on stdin', EXIT.usage);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; usage errors were printed by commander.
      process.exitCode = error.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    process.stderr.write(`${errorLine(error)}\n`);
    process.exitCode = exitCodeOf(error);
  }
}

void main();
