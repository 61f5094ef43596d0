// A TCP connection to a pod's port through the Kubernetes API's port-forward, as a Node Duplex:
// bytes written go to the pod, bytes the pod sends are read. It uses @kubernetes/client-node's
// PortForward (one WebSocket per connection, the channel protocol), so it works wherever
// `kubectl port-forward` is allowed, and RBAC on `pods/portforward` decides who may use it.
// Used by the daemon to reach the traffic-manager. Leaves out listening locally: callers get the
// stream itself.
import { Duplex, PassThrough, Writable } from 'node:stream';
import { PortForward, type KubeConfig } from '@kubernetes/client-node';
// Not in the package's index; the file has had this name and constructor since client-node 0.x.
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';
import WebSocket from 'ws';
import { TpError } from '../errors.js';
import { zeroMask } from '../tunnel/ws-transport.js';
import { kubeError } from './api-errors.js';

/** Above this many bytes queued in the WebSocket, writes wait for its socket to drain. */
const WRITE_HIGH_WATER_MARK = 1 << 20;
/** The port-forward channel protocol's first byte of a message: the data channel of the (only) port. */
const DATA_CHANNEL = 0;

/**
 * client-node's WebSockets, but sending with a zero masking key, which ws takes as "skip the XOR":
 * with a random key ws copies every message it sends into a new masked buffer. Masking protects
 * browser-shared proxies from cache poisoning (RFC 6455 section 10.3); this connection is TLS to
 * the API server (or a local plain one in tests) and the bytes are the user's own.
 */
function unmaskedWebSockets(kc: KubeConfig): WebSocketHandler {
  return new WebSocketHandler(kc, (uri, protocols, options) => new WebSocket(uri, protocols, { ...options, generateMask: zeroMask, perMessageDeflate: false }) as never);
}

export async function openPortForward(kc: KubeConfig, namespace: string, pod: string, port: number): Promise<Duplex> {
  // client-node reads what goes to the pod from this stream; only its end is used (the
  // close-stream message, or closing the WebSocket): data goes by PortForwardStream.send.
  const toPod = new PassThrough();
  let errorText = '';
  const stream = new PortForwardStream(toPod, () => errorText);
  const fromPod = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stream.deliver(chunk);
      callback();
    },
  });
  const errors = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      errorText += chunk.toString('utf8');
      callback();
    },
  });
  let ws: WebSocket;
  try {
    ws = (await new PortForward(kc, true, unmaskedWebSockets(kc)).portForward(namespace, pod, [port], fromPod, errors, toPod)) as unknown as WebSocket;
  } catch (err) {
    throw portForwardError(err, namespace, pod, port);
  }
  stream.attach(ws);
  return stream;
}

class PortForwardStream extends Duplex {
  private ws!: WebSocket;

  constructor(
    private readonly toPod: PassThrough,
    private readonly errorText: () => string,
  ) {
    super({ allowHalfOpen: false });
  }

  attach(ws: WebSocket): void {
    this.ws = ws;
    ws.on('close', () => {
      const error = this.errorText().trim();
      if (error) this.destroy(new TpError('TP_ERR_PORT_FORWARD', `The port-forward failed: ${error}`));
      else this.push(null);
    });
    ws.on('error', (err) => this.destroy(err));
  }

  // Socket methods that HTTP and WebSocket clients call on their connection; a port-forward has
  // no TCP knobs of its own, so they do nothing.
  setNoDelay(): this {
    return this;
  }

  setKeepAlive(): this {
    return this;
  }

  setTimeout(): this {
    return this;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  deliver(chunk: Buffer): void {
    // client-node ignores backpressure on its side; we pause the WebSocket instead.
    if (!this.push(chunk)) this.ws.pause();
  }

  override _read(): void {
    this.ws?.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.send([chunk], chunk.length, callback);
  }

  // WebSocket senders (tp's tunnel among them) write a frame's header and payload as two corked
  // writes; they go as one port-forward message (one TLS record and syscall fewer, one message
  // fewer for the API server and the pod side to handle).
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (err?: Error | null) => void): void {
    const buffers = chunks.map(({ chunk }) => chunk);
    this.send(buffers, buffers.reduce((sum, b) => sum + b.length, 0), callback);
  }

  // client-node's own input path (a stream it reads) copies each chunk twice: into a zero-filled
  // buffer with the channel byte in front, then, masking, into another. Here the channel byte and
  // the chunks are copied once into a buffer ws sends as it is. Each buffer is memory outside V8's
  // heap, which V8 counts toward its next full collection when it outlives a young one.
  private send(buffers: Buffer[], length: number, callback: (err?: Error | null) => void): void {
    const message = Buffer.allocUnsafe(length + 1);
    message[0] = DATA_CHANNEL;
    let offset = 1;
    for (const buffer of buffers) offset += buffer.copy(message, offset);
    this.ws.send(message);
    if (this.ws.bufferedAmount < WRITE_HIGH_WATER_MARK) return callback();
    const socket = (this.ws as unknown as { _socket?: NodeJS.EventEmitter })._socket;
    if (socket) socket.once('drain', () => callback());
    else setImmediate(callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.toPod.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (err: Error | null) => void): void {
    this.ws?.terminate();
    callback(err);
  }
}

/**
 * The WebSocket upgrade's refusal carries only a status ("Unexpected server response: 403"), not
 * the API server's RBAC message, so a 403 is explained here: port-forward is `create` on
 * `pods/portforward` in the pod's namespace. A 401 is the credentials, as for any API call.
 */
function portForwardError(err: unknown, namespace: string, pod: string, port: number): TpError {
  const what = `opening a port-forward to pod ${namespace}/${pod}:${port}`;
  const status = Number(/Unexpected server response: (\d{3})/.exec(describe(err))?.[1]);
  if (status === 401) return kubeError(what, { statusCode: 401 });
  if (status === 403) {
    return new TpError('TP_ERR_KUBE_FORBIDDEN', `Kubernetes does not allow your kubeconfig's user to port-forward to pod ${namespace}/${pod} (403). tp reaches the traffic-manager through a port-forward, which needs create on pods/portforward in namespace "${namespace}".`, {
      cause: err,
      hints: [
        `Ask a cluster admin to allow you to create pods/portforward in namespace "${namespace}" (a Role and RoleBinding there), or for the manager's URL to use with --manager-url.`,
        `Check with: kubectl auth can-i create pods --subresource=portforward -n ${namespace}`,
      ],
    });
  }
  return new TpError('TP_ERR_PORT_FORWARD', `Could not open a port-forward to pod ${namespace}/${pod}:${port}: ${describe(err)}`, {
    cause: err,
    hints: [`Check you may port-forward there: kubectl auth can-i create pods --subresource=portforward -n ${namespace}`],
  });
}

function describe(err: unknown): string {
  const e = err as { message?: string; error?: { message?: string }; type?: string };
  return e?.message ?? e?.error?.message ?? e?.type ?? String(err);
}
