// `pods/<name>/portforward` over WebSocket, in the channel protocol of upstream's kubelet that
// @kubernetes/client-node's PortForward and kubectl's websocket mode speak: subprotocol
// v4.channel.k8s.io (also v5/v3/v2/channel.k8s.io and portforward.k8s.io); for the i-th
// `ports=` value, data travels on channel 2i and errors on channel 2i+1; each message is one
// channel byte then payload; the server first sends, on both channels, the port as 2 bytes
// little-endian. The pod must exist, be Running and have an IP; the connection is made with the
// node's dialPod hook. A dial failure is written as text on the error channel, then the socket
// closes. v5's close frame (255, channel) half-closes the pod connection.
// Leaves out: SPDY and kubectl's SPDY-over-WebSocket tunnelling. Used by server.ts.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import debugFactory from 'debug';
import { pumpToChannel } from './channel-pump.js';
import { ApiStatusError, badRequest, toApiStatusError } from './status-errors.js';
import type { ApiContext } from './context.js';
import type { K8sObject } from './store.js';

const log = debugFactory('tp:sandbox:apiserver:portforward');

export const PORT_FORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v5.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io', 'portforward.k8s.io'];
/** v5.channel.k8s.io: a message `[255, channel]` closes that channel. */
const CLOSE_CHANNEL = 255;

export function parsePorts(url: URL): number[] {
  const ports = url.searchParams.getAll('ports').flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
  if (ports.length === 0) throw badRequest('at least one port must be specified');
  return ports.map((text) => {
    const port = Number(text);
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw badRequest(`invalid port: ${text}`);
    return port;
  });
}

function portPrefix(channel: number, port: number): Buffer {
  const frame = Buffer.alloc(3);
  frame.writeUInt8(channel, 0);
  frame.writeUInt16LE(port, 1);
  return frame;
}

/** Checks that a port-forward to this pod can work; returns the pod IP. */
export function podAddress(pod: K8sObject): string {
  const status = (pod.status as { phase?: string; podIP?: string } | undefined) ?? {};
  if (status.phase !== 'Running') {
    throw badRequest(`unable to upgrade connection: pod ${pod.metadata.name} is not running (phase ${status.phase ?? 'Unknown'})`);
  }
  if (!status.podIP) throw badRequest(`unable to upgrade connection: pod ${pod.metadata.name} has no IP address`);
  return status.podIP;
}

/** Writes a Status reply on a socket that has not been upgraded. */
export function rejectUpgrade(socket: Duplex, error: unknown): void {
  const status = toApiStatusError(error);
  const body = JSON.stringify(status.toStatus());
  socket.end(`HTTP/1.1 ${status.httpCode} ${status.reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

export class PortForwardServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => PORT_FORWARD_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });

  constructor(private readonly ctx: ApiContext) {}

  /** Upgrades an authorized request for `pods/<name>/portforward` of `pod`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pod: K8sObject, url: URL): void {
    const ports = parsePorts(url);
    const podIP = podAddress(pod);
    const dial = this.ctx.hooks.dialPod;
    if (!dial) throw new ApiStatusError(503, 'InternalError', 'unable to upgrade connection: the sandbox node did not provide a pod dialer');
    if (!req.headers['sec-websocket-protocol']) throw badRequest('unable to upgrade connection: a WebSocket subprotocol (v4.channel.k8s.io) is required');
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, ports, podIP, dial, pod.metadata.name ?? ''));
  }

  private serve(ws: WebSocket, ports: number[], podIP: string, dial: NonNullable<ApiContext['hooks']['dialPod']>, podName: string): void {
    const id = `${podName}:${ports.join(',')}`;
    log('-> %s open (%s)', id, ws.protocol);
    let open = ports.length;
    const connections = ports.map((port, i) => {
      ws.send(portPrefix(2 * i, port));
      ws.send(portPrefix(2 * i + 1, port));
      return dial(podIP, port).then((sock) => {
        if (ws.readyState !== ws.OPEN) {
          sock.destroy();
          return sock;
        }
        pumpToChannel(sock, ws, 2 * i);
        sock.on('error', (error) => log('!! %s port %d: %s', id, port, error.message));
        sock.on('close', () => {
          open -= 1;
          if (open === 0) ws.close(1000);
        });
        return sock;
      }, (error: unknown) => {
        const message = `error forwarding port ${port} to pod ${podName}: ${error instanceof Error ? error.message : String(error)}`;
        log('!! %s %s', id, message);
        if (ws.readyState === ws.OPEN) {
          ws.send(Buffer.concat([Buffer.from([2 * i + 1]), Buffer.from(message)]));
          ws.close(1011);
        }
        return undefined;
      });
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const frame = isBinary ? data : Buffer.from(data.toString('utf8'));
      if (frame.length === 0) return;
      const channel = frame[0];
      if (channel === CLOSE_CHANNEL) {
        const index = Math.floor((frame[1] ?? 0) / 2);
        void connections[index]?.then((sock) => sock?.end());
        return;
      }
      if (channel % 2 !== 0) return;
      const index = channel / 2;
      const payload = frame.subarray(1);
      void connections[index]?.then((sock) => {
        if (!sock || sock.destroyed || payload.length === 0) return;
        // Backpressure toward the client, as a real kubelet's copy has: no more frames are read
        // while the pod's connection cannot take these bytes.
        if (sock.write(payload)) return;
        ws.pause();
        const resume = (): void => {
          sock.off('drain', resume);
          sock.off('close', resume);
          ws.resume();
        };
        sock.once('drain', resume);
        sock.once('close', resume);
      });
    });
    ws.on('close', () => {
      log('<- %s closed', id);
      for (const connection of connections) void connection.then((sock) => sock?.destroy());
    });
    ws.on('error', (error) => log('!! %s %s', id, error.message));
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}
