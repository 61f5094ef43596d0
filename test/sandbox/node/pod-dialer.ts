// The pod dialer: a unix socket (served by the node agent inside the node netns) through which
// root-netns code reaches pod IPs that the host cannot route to. Protocol, one request per
// connection: the client writes `<ip> <port>\n`; the server answers `ok\n` and the connection
// becomes a raw byte pipe to that TCP destination, or `error <code> <message>\n` and closes.
// Leaves out UDP and authentication (the socket is root-only, mode 0600).
// Used by the API server's port-forward hook and the kubelet's probes (dialPod), and the node agent
// (startPodDialer).
import net from 'node:net';
import { chmodSync, rmSync } from 'node:fs';
import debug from 'debug';

const log = debug('tp:sandbox:dialer');
/** Longest request line accepted (`255.255.255.255 65535\n` is 22 bytes). */
export const MAX_REQUEST_LINE = 64;
const MAX_REPLY_LINE = 512;
export const DEFAULT_DIAL_TIMEOUT_MS = 5000;

export class PodDialError extends Error {
  /** `BAD_REQUEST`, `ECONNREFUSED`, `ETIMEDOUT`, `EHOSTUNREACH`…, or `DIALER_UNAVAILABLE`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodDialError';
    this.code = code;
  }
}

export interface PodDialerServer { close(): Promise<void> }

export async function startPodDialer(options: { socketPath: string; dialTimeoutMs?: number }): Promise<PodDialerServer> {
  const timeoutMs = options.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
  const clients = new Set<net.Socket>();
  const server = net.createServer((client) => {
    clients.add(client);
    client.on('close', () => clients.delete(client));
    client.on('error', () => client.destroy());
    readLine(client, MAX_REQUEST_LINE).then((line) => {
      const match = /^(\d{1,3}(?:\.\d{1,3}){3}) (\d{1,5})$/.exec(line ?? '');
      const port = Number(match?.[2]);
      if (!match || !net.isIPv4(match[1]) || port < 1 || port > 65535) {
        client.end(`error BAD_REQUEST expected "<ipv4> <port>"\n`);
        return;
      }
      const id = `${match[1]}:${port}`;
      // TCP_NODELAY as a real node's runtime dials (Go sets it on every TCP connection): with
      // Nagle on, small writes into a port-forward wait for the previous segment's ACK.
      const upstream = net.connect({ host: match[1], port, timeout: timeoutMs, noDelay: true });
      clients.add(upstream);
      upstream.on('close', () => clients.delete(upstream));
      upstream.once('timeout', () => upstream.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' })));
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        upstream.setTimeout(0);
        log('-> %s connected', id);
        client.write('ok\n');
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      upstream.once('error', (error: NodeJS.ErrnoException) => {
        if (!connected) {
          log('!! %s %s', id, error.code ?? error.message);
          client.end(`error ${error.code ?? 'EIO'} ${error.message.replace(/\n/g, ' ')}\n`);
        } else {
          client.destroy();
        }
      });
    }, () => client.destroy());
  });
  rmSync(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.socketPath, () => resolve());
  });
  chmodSync(options.socketPath, 0o600);
  let closing: Promise<void> | undefined;
  return {
    close: () => (closing ??= new Promise((resolve) => {
      server.close(() => resolve());
      for (const socket of clients) socket.destroy();
    })),
  };
}

/** Opens a TCP connection to ip:port inside the cluster network through the dialer socket. */
export function dialPod(socketPath: string, ip: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      reject(new PodDialError('DIALER_UNAVAILABLE', `pod dialer at ${socketPath}: ${error.message}`, { cause: error }));
    });
    socket.once('connect', () => {
      socket.write(`${ip} ${port}\n`);
      readLine(socket, MAX_REPLY_LINE).then((line) => {
        if (line === 'ok') {
          socket.removeAllListeners('error');
          resolve(socket);
          return;
        }
        socket.destroy();
        const match = /^error (\S+) ?(.*)$/.exec(line ?? '');
        reject(match ? new PodDialError(match[1], `dial ${ip}:${port}: ${match[2]}`) : new PodDialError('DIALER_UNAVAILABLE', `dial ${ip}:${port}: dialer closed the connection`));
      }, (error: unknown) => {
        socket.destroy();
        reject(new PodDialError('DIALER_UNAVAILABLE', `dial ${ip}:${port}: ${(error as Error).message}`));
      });
    });
  });
}

/**
 * Reads one `\n`-terminated line without consuming anything after it (the rest is unshifted back
 * for whoever reads next). Uses 'readable' so the stream returns to its initial (not flowing, not
 * paused) mode afterwards: a later 'data' listener or pipe() starts it as usual. Resolves undefined
 * if the peer ends first; rejects past `max` bytes.
 */
function readLine(socket: net.Socket, max: number): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const cleanup = (): void => {
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
    };
    const onEnd = (): void => { cleanup(); resolve(undefined); };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while ((chunk = socket.read() as Buffer | null) !== null) {
        buffered = Buffer.concat([buffered, chunk]);
        const newline = buffered.indexOf(0x0a);
        if (newline === -1) {
          if (buffered.length > max) { cleanup(); reject(new Error(`line longer than ${max} bytes`)); return; }
          continue;
        }
        cleanup();
        const rest = buffered.subarray(newline + 1);
        if (rest.length > 0) socket.unshift(rest);
        resolve(buffered.subarray(0, newline).toString('utf8'));
        return;
      }
    };
    socket.on('readable', onReadable);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}
