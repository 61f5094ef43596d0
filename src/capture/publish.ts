// `--publish`: ports the command listens on inside its capture namespace, served on the host's
// loopback. Each connection to 127.0.0.1:<from> on the host goes to the relay's publish socket
// (namespace.ts; a Unix socket in the user's 0700 runtime dir) with "tp-publish 1 <to>\n"; the
// relay connects to 127.0.0.1:<to> inside and answers 'O', or 'R' when nothing listens there,
// which the host's client gets as a reset, as from a closed port. After 'O' the two are piped with
// the capture socket's frames (frames.ts), so FINs and resets cross as themselves.
// Like a server the command would run on the host's loopback without --netns, a published port
// is open to the machine's other accounts; the command decides whom it serves.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { logger } from '../log/logger.js';
import { TpError } from '../errors.js';
import { closeGracefully, ConnectionSet, listen } from '../net/connection-set.js';
import { pipeBothWays } from '../net/pipe.js';
import { ConnectionCap, MAX_PROXY_CONNECTIONS } from '../proxy/limits.js';
import { FramedStream } from './frames.js';
import type { PortMap } from './namespace.js';

const log = logger('tp:capture:publish');

const ANSWER_DEADLINE_MS = 10_000;
const CLOSE_TIMEOUT_MS = 2_000;
const OPENED = 0x4f; // 'O'

export interface Published {
  close(): Promise<void>;
}

/** Listens on the host's 127.0.0.1 for every mapping (from: the host's port, to: the port inside); rejects when a port is taken. */
export async function publishPorts(publishSocket: string, ports: readonly PortMap[]): Promise<Published> {
  const connections = new ConnectionSet();
  const cap = new ConnectionCap(MAX_PROXY_CONNECTIONS);
  const servers: Server[] = [];
  const closeAll = () => Promise.all(servers.map((server) => closeGracefully(server, connections, CLOSE_TIMEOUT_MS))).then(() => undefined);
  try {
    for (const { from, to } of ports) {
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        connections.add(socket);
        socket.on('error', (error) => log('!! published %d: %s', to, error.message));
        if (!cap.admit(socket)) socket.resetAndDestroy();
        else forward(socket, publishSocket, to);
      });
      servers.push(server);
      await listen(server, from).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE' && err.code !== 'EACCES') throw err;
        throw new TpError('TP_ERR_PORT_IN_USE', `--publish cannot listen on 127.0.0.1:${from}: ${err.code === 'EADDRINUSE' ? 'the port is already in use' : 'permission denied'}.`, {
          hints: [`Publish it on another port of the host: --publish <host port>:${to}.`],
        });
      });
    }
  } catch (err) {
    await closeAll();
    throw err;
  }
  return { close: closeAll };
}

function forward(client: Socket, publishSocket: string, port: number): void {
  const relay = connect({ path: publishSocket, allowHalfOpen: true });
  const refuse = (why: string): void => {
    log('!! published %d: %s', port, why);
    relay.destroy();
    client.resetAndDestroy();
  };
  const onError = (error: Error): void => refuse(error.message);
  const onEnd = (): void => refuse('the namespace went away');
  relay.setTimeout(ANSWER_DEADLINE_MS, () => refuse('no answer from the namespace'));
  relay.on('error', onError);
  relay.on('end', onEnd);
  relay.once('connect', () => relay.write(`tp-publish 1 ${port}\n`));
  relay.once('data', (chunk: Buffer) => {
    relay.pause();
    relay.setTimeout(0);
    relay.off('error', onError);
    relay.off('end', onEnd);
    if (chunk[0] !== OPENED) return refuse('nothing listens there in the namespace');
    if (chunk.length > 1) relay.unshift(chunk.subarray(1));
    if (client.destroyed) return relay.destroy();
    pipeBothWays(client, new FramedStream(relay), (error) => log('-- published %d closed%s', port, error ? ` (${error.message})` : ''));
  });
}
