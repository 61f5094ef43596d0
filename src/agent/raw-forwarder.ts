// Byte-for-byte forwarding of one accepted connection: to the app on the pod's loopback, or into
// a tunnel stream of a global intercept. Half-closes pass through both ways; an error on one side
// resets the other. A global intercept whose stream cannot be opened fails open to the app.
// Leaves out any parsing (http-router.ts does HTTP) and the routing decision (agent.ts).
import { connect, type Socket } from 'node:net';
import { logger } from '../log/logger.js';
import { pipeBothWays } from '../net/pipe.js';
import { pipeSocket, type TunnelStream } from '../tunnel/index.js';

const log = logger('tp:agent');

export interface AppAddress {
  host: string;
  port: number;
}

/** Pipes `client` to a new connection to the app; a client whose app cannot be reached is reset. */
export function forwardToApp(client: Socket, app: AppAddress, id: string): void {
  const upstream = connect({ host: app.host, port: app.port, noDelay: true, allowHalfOpen: true });
  client.setNoDelay(true);
  const onConnectError = (error: Error): void => {
    log.info('!! %s app %s:%d: %s', id, app.host, app.port, (error as NodeJS.ErrnoException).code ?? error.message);
    if (!client.destroyed) client.resetAndDestroy();
  };
  upstream.once('error', onConnectError);
  upstream.once('connect', () => {
    upstream.off('error', onConnectError);
    if (client.destroyed) return void upstream.destroy();
    pipeBothWays(client, upstream, (error) => (error ? log.info : log)('-- %s app closed%s', id, error ? ` (${error.message})` : ''));
  });
  client.once('close', () => {
    if (upstream.connecting) upstream.destroy();
  });
}

/** Pipes `client` into an intercept's tunnel stream; the stream's end, reset or error carry over. */
export function forwardToStream(client: Socket, stream: TunnelStream, id: string): void {
  stream.once('close', () => log('-- %s intercept stream closed', id));
  pipeSocket(stream, client);
}

/**
 * Opens the intercept's stream while the client waits (paused) and forwards to it; when no
 * stream can be had, forwards to the app instead (fail open).
 */
export function forwardToIntercept(client: Socket, open: () => Promise<TunnelStream>, app: AppAddress, id: string): void {
  client.pause();
  open().then(
    (stream) => {
      if (client.destroyed) return void stream.destroy();
      forwardToStream(client, stream, id);
    },
    (error: Error) => {
      log.info('!! %s intercept stream not opened (%s); failing open to the app', id, error.message);
      if (!client.destroyed) forwardToApp(client, app, id);
    },
  );
}
