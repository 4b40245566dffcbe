/**
 * TCP listeners for the protocol: the controller's, where queue managers in other processes
 * connect, and a queue manager's, where applications connect. They listen on 127.0.0.1
 * unless told otherwise; on any other address they insist on a shared secret (checked in the
 * hello) or TLS (node:tls), or both, since the protocol moves messages and units of work.
 */
import { isIP } from 'node:net';
import * as net from 'node:net';
import * as tls from 'node:tls';

import { Errors, SanmqError } from '../errors.js';
import { SocketTransport, type Transport } from './transport.js';

export interface ListenOptions {
  /** Default 127.0.0.1. Any other address needs `secret` or `tls`. */
  host?: string;
  /** Default 0: a free port (see the listener's address). */
  port?: number;
  /** A shared secret every hello must carry (at least 16 characters). */
  secret?: string;
  /** Serve TLS with this key and certificate (PEM); with `ca`, require client certificates. */
  tls?: { key: string | Buffer; cert: string | Buffer; ca?: string | Buffer };
  /** Connections served at once; more are refused at accept (default 1024). */
  connectionsMax?: number;
}

export interface Listener {
  readonly host: string;
  readonly port: number;
  /** Stops accepting and closes the connections it accepted. */
  close(): Promise<void>;
}

const SECRET_LENGTH_MIN = 16;

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** Validates listen options; the secret rule is enforced here, before anything listens. */
interface CheckedListenOptions {
  host: string;
  port: number;
  connectionsMax: number;
  secret: string | undefined;
  tls: ListenOptions['tls'] | undefined;
}

export function listenOptions(options: ListenOptions): CheckedListenOptions {
  if (typeof options !== 'object' || options === null) {
    throw Errors.invalidArgument('listen options must be an object');
  }
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 0;
  if (typeof host !== 'string' || host === '') throw Errors.invalidArgument('listen.host must be a host name or address');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw Errors.invalidArgument('listen.port must be an integer from 0 to 65535');
  }
  if (options.secret !== undefined &&
    (typeof options.secret !== 'string' || options.secret.length < SECRET_LENGTH_MIN)) {
    throw Errors.invalidArgument(`listen.secret must be a string of at least ${SECRET_LENGTH_MIN} characters`);
  }
  if (!isLoopback(host) && options.secret === undefined && options.tls === undefined) {
    throw Errors.invalidArgument(`listening on ${host}, beyond this machine, needs a shared ` +
      'secret (listen.secret) or TLS (listen.tls)');
  }
  const connectionsMax = options.connectionsMax ?? 1024;
  if (!Number.isInteger(connectionsMax) || connectionsMax < 1) {
    throw Errors.invalidArgument('listen.connectionsMax must be a positive integer');
  }
  return { host, port, connectionsMax, secret: options.secret, tls: options.tls };
}

/** Listens and hands each accepted connection, as a transport, to `accept`. */
export async function listen(options: ListenOptions,
  accept: (transport: Transport) => void): Promise<Listener> {
  const o = listenOptions(options);
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    accept(new SocketTransport(socket));
  };
  // With `ca`, clients must present a certificate it signed (mutual TLS).
  const server = o.tls === undefined ? net.createServer(onSocket)
    : tls.createServer({ key: o.tls.key, cert: o.tls.cert, ...(o.tls.ca === undefined ? {}
      : { ca: o.tls.ca, requestCert: true, rejectUnauthorized: true }) }, onSocket);
  server.maxConnections = o.connectionsMax;
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException): void => reject(listenError(error, o.host, o.port));
    server.once('error', failed);
    server.listen(o.port, o.host, () => {
      server.off('error', failed);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  return {
    host: address.address,
    port: address.port,
    close: () => new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Why a listener could not start, as a coded error (a port in use is E_BUSY). */
function listenError(error: NodeJS.ErrnoException, host: string, port: number): SanmqError {
  const message = `cannot listen on ${host}:${port}: ${error.message}`;
  if (error.code === 'EADDRINUSE') return new SanmqError('E_BUSY', message, { host, port });
  if (error.code === 'EACCES' || error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') {
    return new SanmqError('E_INVALID_ARGUMENT', message, { host, port });
  }
  return new SanmqError('E_IO', message, { host, port });
}

export interface DialOptions {
  host?: string;
  port: number;
  /** Connect with TLS; `ca` to trust a self-signed certificate. */
  tls?: { ca?: string | Buffer; key?: string | Buffer; cert?: string | Buffer; servername?: string;
    rejectUnauthorized?: boolean; };
  connectTimeoutMs?: number;
}

/** Connects to a listener; resolves with the transport once connected. */
export function dial(options: DialOptions): Promise<Transport> {
  const host = options.host ?? '127.0.0.1';
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  return new Promise<Transport>((resolve, reject) => {
    const socket = options.tls === undefined
      ? net.connect({ host, port: options.port })
      : tls.connect({ host, port: options.port, ...options.tls });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new SanmqError('E_CONNECTION_BROKEN',
        `no connection to ${host}:${options.port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(new SanmqError('E_CONNECTION_BROKEN',
        `cannot connect to ${host}:${options.port}: ${error.message}`));
    });
    socket.once(options.tls === undefined ? 'connect' : 'secureConnect', () => {
      clearTimeout(timer);
      resolve(new SocketTransport(socket));
    });
  });
}
