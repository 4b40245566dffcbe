/**
 * An MQSC subset, as IBM MQ's runmqsc reads it: one command a line (a trailing '+' or '-'
 * continues it), keywords in any case, values in parentheses, quoted strings with '' for a
 * quote, '*' comments. Commands:
 *   DEFINE QLOCAL(name) [attrs] [REPLACE]      ALTER QLOCAL(name) attrs
 *   DELETE QLOCAL(name) [PURGE]                DISPLAY QLOCAL(generic) [WHERE(attr op value)]
 *   DISPLAY QSTATUS(generic) [WHERE(…)]
 *   DEFINE CHANNEL(name) CHLTYPE(SDR|RCVR) [attrs] [REPLACE]
 *   DISPLAY CHANNEL(generic) [WHERE(…)]        DISPLAY CHSTATUS(generic) [WHERE(…)]
 *   START CHANNEL(name)                        STOP CHANNEL(name)
 *   DISPLAY INDOUBT                            RESOLVE XID('xid') ACTION(COMMIT|BACKOUT)
 * WHERE operators: EQ NE GT LT GE LE LK (LK: a trailing * matches any ending).
 * Parsing is separate from running, so `--verify` checks a script without a controller.
 */
import { SanmqError } from '../errors.js';
import type { Controller } from '../controller/controller.js';
import type { QueueAttributes } from '../controller/attributes.js';
import type { ChannelAttributes } from '../channels/definition.js';
import { ChannelAdmin } from '../channels/admin.js';

export interface Command {
  /** 1-based line of the script where the command starts. */
  line: number;
  text: string;
  verb: 'DEFINE' | 'ALTER' | 'DELETE' | 'DISPLAY' | 'START' | 'STOP' | 'RESOLVE';
  object: 'QLOCAL' | 'QSTATUS' | 'CHANNEL' | 'CHSTATUS' | 'INDOUBT' | 'XID';
  name: string;
  /** Keywords with their values ('' for a bare keyword such as REPLACE). */
  keywords: Map<string, string>;
  where: { attribute: string; op: string; value: string } | undefined;
}

export function syntaxError(line: number, message: string): SanmqError {
  return new SanmqError('E_INVALID_ARGUMENT', `MQSC line ${line}: ${message}`, { line });
}

/** Splits a script into commands (joining continuation lines, dropping comments). */
export function parseScript(script: string): Command[] {
  const commands: Command[] = [];
  let pending = '';
  let startLine = 0;
  script.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('*'))) return;
    if (pending === '') startLine = index + 1;
    if (line.endsWith('+') || line.endsWith('-')) {
      pending += `${line.slice(0, -1)} `;
      return;
    }
    pending += line;
    commands.push(parseCommand(pending, startLine));
    pending = '';
  });
  if (pending !== '') throw syntaxError(startLine, 'the last command continues past the end of the script');
  return commands;
}

const VERBS: Record<string, Command['verb']> = { DEFINE: 'DEFINE', DEF: 'DEFINE', ALTER: 'ALTER',
  DELETE: 'DELETE', DISPLAY: 'DISPLAY', DIS: 'DISPLAY', START: 'START', STOP: 'STOP', RESOLVE: 'RESOLVE' };
const OBJECTS: Record<string, Command['object']> = { QLOCAL: 'QLOCAL', QL: 'QLOCAL',
  QSTATUS: 'QSTATUS', QS: 'QSTATUS', CHANNEL: 'CHANNEL', CHL: 'CHANNEL', CHSTATUS: 'CHSTATUS',
  CHS: 'CHSTATUS', INDOUBT: 'INDOUBT', XID: 'XID' };
const ALLOWED: Record<Command['verb'], ReadonlyArray<Command['object']>> = {
  DEFINE: ['QLOCAL', 'CHANNEL'], ALTER: ['QLOCAL', 'CHANNEL'], DELETE: ['QLOCAL', 'CHANNEL'],
  DISPLAY: ['QLOCAL', 'QSTATUS', 'CHANNEL', 'CHSTATUS', 'INDOUBT'], START: ['CHANNEL'],
  STOP: ['CHANNEL'], RESOLVE: ['XID'],
};

/** Tokens: WORD, WORD(value) with the value's quotes undone. */
function tokens(text: string, line: number): Array<{ word: string; value: string | undefined }> {
  const out: Array<{ word: string; value: string | undefined }> = [];
  let at = 0;
  while (at < text.length) {
    while (text[at] === ' ' || text[at] === '\t') at++;
    if (at >= text.length) break;
    const match = /^[A-Za-z][A-Za-z0-9]*/.exec(text.slice(at));
    if (match === null) throw syntaxError(line, `unexpected '${text.slice(at, at + 12)}'`);
    const word = match[0].toUpperCase();
    at += match[0].length;
    if (text[at] !== '(') {
      out.push({ word, value: undefined });
      continue;
    }
    at++;
    let value = '';
    let depth = 0;
    while (at < text.length && !(text[at] === ')' && depth === 0)) {
      if (text[at] === "'") {
        at++;
        for (;;) {
          if (at >= text.length) throw syntaxError(line, `an unterminated string in ${word}(`);
          if (text[at] === "'" && text[at + 1] === "'") {
            value += "'";
            at += 2;
          } else if (text[at] === "'") {
            at++;
            break;
          } else {
            value += text[at++];
          }
        }
        continue;
      }
      if (text[at] === '(') depth++;
      if (text[at] === ')') depth--;
      value += text[at++];
    }
    if (text[at] !== ')') throw syntaxError(line, `${word}( has no closing parenthesis`);
    at++;
    out.push({ word, value: value.trim() });
  }
  return out;
}

export function parseCommand(text: string, line = 1): Command {
  const words = tokens(text, line);
  const [verbToken, objectToken, ...rest] = words;
  const verb = verbToken === undefined ? undefined : VERBS[verbToken.word];
  if (verb === undefined || verbToken?.value !== undefined) {
    throw syntaxError(line, `'${verbToken?.word ?? ''}' is not a command here; known: ` +
      'DEFINE, ALTER, DELETE, DISPLAY, START, STOP, RESOLVE');
  }
  const object = objectToken === undefined ? undefined : OBJECTS[objectToken.word];
  if (object === undefined || !ALLOWED[verb].includes(object)) {
    throw syntaxError(line, `${verb} takes ${ALLOWED[verb].join(', ')}, not '${objectToken?.word ?? ''}'`);
  }
  const name = objectToken?.value ?? '';
  if (object !== 'INDOUBT' && name === '') throw syntaxError(line, `${object} needs a name in parentheses`);
  const keywords = new Map<string, string>();
  let where: Command['where'];
  for (const token of rest) {
    if (token.word === 'WHERE') {
      const parts = /^(\w+)\s+(EQ|NE|GT|LT|GE|LE|LK)\s+(.+)$/i.exec(token.value ?? '');
      if (parts === null) throw syntaxError(line, 'WHERE takes (attribute op value), op one of EQ NE GT LT GE LE LK');
      where = { attribute: (parts[1] as string).toUpperCase(), op: (parts[2] as string).toUpperCase(),
        value: (parts[3] as string).replace(/^'(.*)'$/, '$1') };
      continue;
    }
    if (keywords.has(token.word)) throw syntaxError(line, `${token.word} is given twice`);
    keywords.set(token.word, token.value ?? '');
  }
  const command: Command = { line, text, verb, object, name, keywords, where };
  // Attribute words are checked now, so --verify catches them without a controller.
  if (object === 'QLOCAL' && (verb === 'DEFINE' || verb === 'ALTER')) queueAttributes(command);
  if (object === 'CHANNEL' && (verb === 'DEFINE' || verb === 'ALTER')) channelAttributes(command);
  if (verb === 'RESOLVE') resolveAction(command);
  return command;
}

function number(command: Command, key: string): number {
  const value = command.keywords.get(key) as string;
  if (!/^\d+$/.test(value)) throw syntaxError(command.line, `${key}(${value}) must be a whole number`);
  return Number(value);
}

function yesNo(command: Command, key: string, yes: string, no: string): boolean {
  const value = (command.keywords.get(key) as string).toUpperCase();
  if (value !== yes && value !== no) throw syntaxError(command.line, `${key} takes ${yes} or ${no}`);
  return value === yes;
}

const QUEUE_WORDS = new Set(['DESCR', 'MAXDEPTH', 'MAXMSGL', 'DEFPSIST', 'DEFPRTY', 'MSGDLVSQ', 'PUT',
  'GET', 'BOTHRESH', 'BOQNAME', 'SHARE', 'NOSHARE', 'DEFSOPT', 'TRIGGER', 'NOTRIGGER', 'TRIGTYPE',
  'TRIGDPTH', 'TRIGMPRI', 'INITQ', 'TRIGDATA', 'PROCESS', 'REPLACE', 'NOREPLACE', 'PURGE', 'NOPURGE']);

/** The queue attributes a DEFINE or ALTER QLOCAL gives. */
export function queueAttributes(command: Command): Partial<QueueAttributes> {
  const a: Partial<QueueAttributes> = {};
  for (const [key, value] of command.keywords) {
    if (!QUEUE_WORDS.has(key)) throw syntaxError(command.line, `QLOCAL has no attribute ${key}`);
    switch (key) {
      case 'DESCR': a.description = value; break;
      case 'MAXDEPTH': a.maxDepth = number(command, key); break;
      case 'MAXMSGL': a.maxMessageLength = number(command, key); break;
      case 'DEFPSIST': a.defaultPersistent = yesNo(command, key, 'YES', 'NO'); break;
      case 'DEFPRTY': a.defaultPriority = number(command, key); break;
      case 'MSGDLVSQ': a.deliverySequence = yesNo(command, key, 'PRIORITY', 'FIFO') ? 'priority' : 'fifo'; break;
      case 'PUT': a.putInhibited = !yesNo(command, key, 'ENABLED', 'DISABLED'); break;
      case 'GET': a.getInhibited = !yesNo(command, key, 'ENABLED', 'DISABLED'); break;
      case 'BOTHRESH': a.backoutThreshold = number(command, key); break;
      case 'BOQNAME': a.backoutRequeueQueue = value; break;
      case 'SHARE': a.shareability = 'shared'; break;
      case 'NOSHARE': a.shareability = 'exclusive'; break;
      case 'DEFSOPT': a.defaultInputOpen = yesNo(command, key, 'SHARED', 'EXCL') ? 'shared' : 'exclusive'; break;
      case 'TRIGGER': a.triggerControl = true; break;
      case 'NOTRIGGER': a.triggerControl = false; break;
      case 'TRIGTYPE': {
        const type = value.toLowerCase();
        if (!['none', 'first', 'every', 'depth'].includes(type)) {
          throw syntaxError(command.line, 'TRIGTYPE takes NONE, FIRST, EVERY or DEPTH');
        }
        a.triggerType = type as QueueAttributes['triggerType'];
        break;
      }
      case 'TRIGDPTH': a.triggerDepth = number(command, key); break;
      case 'TRIGMPRI': a.triggerMessagePriority = number(command, key); break;
      case 'INITQ': a.initiationQueue = value; break;
      case 'TRIGDATA': a.triggerData = value; break;
      case 'PROCESS': a.processName = value; break;
      default: break;
    }
  }
  return a;
}

const CHANNEL_WORDS = new Set(['CHLTYPE', 'XMITQ', 'CONNAME', 'RQMNAME', 'BATCHSZ', 'HBINT',
  'SHORTRTY', 'SHORTTMR', 'LONGRTY', 'LONGTMR', 'DESCR', 'REPLACE', 'NOREPLACE', 'TRPTYPE']);

/** The channel attributes a DEFINE or ALTER CHANNEL gives (SHORTTMR and LONGTMR in seconds). */
export function channelAttributes(command: Command): Partial<ChannelAttributes> {
  const a: Partial<ChannelAttributes> = {};
  for (const [key, value] of command.keywords) {
    if (!CHANNEL_WORDS.has(key)) throw syntaxError(command.line, `CHANNEL has no attribute ${key}`);
    switch (key) {
      case 'CHLTYPE': {
        const type = value.toUpperCase();
        if (type !== 'SDR' && type !== 'RCVR') throw syntaxError(command.line, 'CHLTYPE takes SDR or RCVR');
        a.type = type === 'SDR' ? 'sender' : 'receiver';
        break;
      }
      case 'XMITQ': a.transmissionQueue = value; break;
      case 'CONNAME': {
        // MQ writes host(port); host:port is taken too.
        const match = /^(.+)\((\d+)\)$/.exec(value);
        a.connection = match === null ? value : `${match[1] as string}:${match[2] as string}`;
        break;
      }
      case 'RQMNAME': a.remoteQueueManager = value; break;
      case 'BATCHSZ': a.batchSize = number(command, key); break;
      case 'HBINT': a.heartbeatSeconds = number(command, key); break;
      case 'SHORTRTY': a.shortRetryCount = number(command, key); break;
      case 'SHORTTMR': a.shortRetryMs = number(command, key) * 1000; break;
      case 'LONGRTY': a.longRetryCount = number(command, key); break;
      case 'LONGTMR': a.longRetryMs = number(command, key) * 1000; break;
      case 'DESCR': a.description = value; break;
      case 'TRPTYPE':
        if (value.toUpperCase() !== 'TCP') throw syntaxError(command.line, 'TRPTYPE takes TCP');
        break;
      default: break;
    }
  }
  if (command.verb === 'DEFINE' && a.type === undefined) {
    throw syntaxError(command.line, 'DEFINE CHANNEL needs CHLTYPE(SDR) or CHLTYPE(RCVR)');
  }
  return a;
}

function resolveAction(command: Command): 'commit' | 'rollback' {
  const action = command.keywords.get('ACTION')?.toUpperCase();
  if (action !== 'COMMIT' && action !== 'BACKOUT') {
    throw syntaxError(command.line, 'RESOLVE XID needs ACTION(COMMIT) or ACTION(BACKOUT)');
  }
  return action === 'COMMIT' ? 'commit' : 'rollback';
}

/** A generic name: a trailing '*' matches any ending; '*' alone, everything. */
function matches(generic: string, name: string): boolean {
  return generic.endsWith('*') ? name.startsWith(generic.slice(0, -1)) : generic === name;
}

type Row = Record<string, string | number | boolean>;

function whereHolds(where: Command['where'], row: Row, line: number): boolean {
  if (where === undefined) return true;
  if (!(where.attribute in row)) throw syntaxError(line, `WHERE names ${where.attribute}, which this display has not`);
  const actual = row[where.attribute];
  const numeric = typeof actual === 'number';
  const wanted: string | number = numeric ? Number(where.value) : where.value;
  const a = numeric ? actual : String(actual).toUpperCase();
  const b = numeric ? wanted : String(wanted).toUpperCase();
  switch (where.op) {
    case 'EQ': return a === b;
    case 'NE': return a !== b;
    case 'GT': return a > b;
    case 'LT': return a < b;
    case 'GE': return a >= b;
    case 'LE': return a <= b;
    default: return matches(String(b), String(a));
  }
}

/** What one command did: a message, and rows for a DISPLAY. */
export interface Result {
  line: number;
  command: string;
  ok: boolean;
  message: string;
  code?: string;
  rows?: Row[];
}

/** Runs commands against a mounted controller, each on its own (a failure does not stop the rest). */
export async function runCommands(controller: Controller, commands: Command[]): Promise<Result[]> {
  const admin = new ChannelAdmin(controller);
  const results: Result[] = [];
  for (const command of commands) {
    try {
      results.push({ line: command.line, command: command.text, ok: true, ...await run(controller, admin, command) });
    } catch (error) {
      const coded = error as { code?: string; message?: string };
      results.push({ line: command.line, command: command.text, ok: false,
        code: coded.code ?? 'E_INTERNAL', message: coded.message ?? String(error) });
    }
  }
  return results;
}

async function run(controller: Controller, admin: ChannelAdmin, c: Command):
Promise<{ message: string; rows?: Row[] }> {
  const replace = c.keywords.has('REPLACE');
  const filter = (rows: Row[]) => rows.filter((row) => whereHolds(c.where, row, c.line));
  switch (`${c.verb} ${c.object}`) {
    case 'DEFINE QLOCAL':
      await controller.defineQueue(c.name, queueAttributes(c), { replace });
      return { message: `queue ${c.name} defined` };
    case 'ALTER QLOCAL':
      await controller.alterQueue(c.name, queueAttributes(c));
      return { message: `queue ${c.name} altered` };
    case 'DELETE QLOCAL':
      await controller.deleteQueue(c.name, { purge: c.keywords.has('PURGE') });
      return { message: `queue ${c.name} deleted` };
    case 'DISPLAY QLOCAL': {
      const rows = controller.queueList().filter((q) => matches(c.name, q.name)).map((q) => ({
        QUEUE: q.name, CURDEPTH: q.depth, MAXDEPTH: q.attributes.maxDepth,
        MAXMSGL: q.attributes.maxMessageLength, DEFPSIST: q.attributes.defaultPersistent ? 'YES' : 'NO',
        PUT: q.attributes.putInhibited ? 'DISABLED' : 'ENABLED', GET: q.attributes.getInhibited ? 'DISABLED' : 'ENABLED',
        TRIGGER: q.attributes.triggerControl ? 'YES' : 'NO', DESCR: q.attributes.description }));
      return { message: `${filter(rows).length} queues`, rows: filter(rows) };
    }
    case 'DISPLAY QSTATUS': {
      const rows = controller.queueList().filter((q) => matches(c.name, q.name)).map((q) => ({
        QUEUE: q.name, CURDEPTH: q.depth, UNCOM: q.uncommitted, IPPROCS: q.openInput,
        PUTS: q.puts, GETS: q.gets, LPUTTIME: q.lastPutTime?.toISOString() ?? '',
        LGETTIME: q.lastGetTime?.toISOString() ?? '' }));
      return { message: `${filter(rows).length} queues`, rows: filter(rows) };
    }
    case 'DEFINE CHANNEL':
      await controller.defineChannel(c.name, channelAttributes(c) as ChannelAttributes, { replace });
      return { message: `channel ${c.name} defined` };
    case 'ALTER CHANNEL':
      await controller.alterChannel(c.name, channelAttributes(c));
      return { message: `channel ${c.name} altered` };
    case 'DELETE CHANNEL':
      await controller.deleteChannel(c.name);
      return { message: `channel ${c.name} deleted` };
    case 'DISPLAY CHANNEL': {
      const rows = controller.channelList().filter((d) => matches(c.name, d.name)).map((d) => ({
        CHANNEL: d.name, CHLTYPE: d.type === 'sender' ? 'SDR' : 'RCVR', XMITQ: d.transmissionQueue,
        CONNAME: d.connection, RQMNAME: d.remoteQueueManager, BATCHSZ: d.batchSize,
        HBINT: d.heartbeatSeconds, DESCR: d.description }));
      return { message: `${filter(rows).length} channels`, rows: filter(rows) };
    }
    case 'DISPLAY CHSTATUS': {
      const rows = (await admin.status()).filter((s) => matches(c.name, s.name)).map((s) => ({
        CHANNEL: s.name, CHLTYPE: s.type === 'sender' ? 'SDR' : 'RCVR', STATUS: s.status.toUpperCase(),
        QMNAME: s.entry?.owner ?? '', XMITQ: s.entry?.transmissionQueue ?? '',
        RQMNAME: s.entry?.remoteQueueManager ?? '', CONNAME: s.entry?.remoteAddress ?? '',
        INSTANCE: s.entry?.instance ?? 0, LSTSEQNO: s.entry?.committedSequence ?? 0,
        UPDATED: s.entry?.updated.toISOString() ?? '' }));
      return { message: `${filter(rows).length} channels`, rows: filter(rows) };
    }
    case 'START CHANNEL':
      return { message: `channel ${c.name} starting on ${await admin.start(c.name)}` };
    case 'STOP CHANNEL':
      await admin.stop(c.name);
      return { message: `channel ${c.name} stopping` };
    case 'DISPLAY INDOUBT': {
      const rows = controller.inDoubt().map((u) => ({ XID: u.xid, PUTS: u.puts, GETS: u.gets,
        QUEUES: u.queues.join(' ') }));
      return { message: `${rows.length} units in doubt`, rows: filter(rows) };
    }
    case 'RESOLVE XID':
      await controller.resolve(c.name, resolveAction(c));
      return { message: `unit ${c.name} ${resolveAction(c) === 'commit' ? 'committed' : 'backed out'}` };
    default:
      throw syntaxError(c.line, `${c.verb} ${c.object} is not supported`);
  }
}
