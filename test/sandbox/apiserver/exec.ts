// `pods/<name>/exec` over WebSocket, as upstream's API server serves `kubectl exec` and
// @kubernetes/client-node's Exec: subprotocol v5.channel.k8s.io or v4.channel.k8s.io; channel 0
// carries stdin, 1 stdout, 2 stderr, and 3 the Status JSON once the command ended (its exit code
// as cause `ExitCode`), after which the server closes the socket; v5's `[255, 0]` closes stdin.
// The pod must be Running and the container its own (or, with no `container=`, its only one);
// the command runs through the node's execInPod hook. Output is paced to the client
// (channel-pump.ts), stdin to the command. A client that goes away
// kills the command. Leaves out TTYs, SPDY and attach. Used by server.ts.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import debugFactory from 'debug';
import { WebSocketServer, type WebSocket } from 'ws';
import { pumpToChannel } from './channel-pump.js';
import type { ApiContext, ExecProcess } from './context.js';
import { EXEC_PROTOCOLS, failureFrame, parseClientFrame, parseExecOptions, statusFrame, STDERR, STDIN, STDOUT, type ExecOptions } from './exec-frames.js';
import { podAddress } from './portforward.js';
import { ApiStatusError, badRequest } from './status-errors.js';
import type { K8sObject } from './store.js';

const log = debugFactory('tp:sandbox:apiserver:exec');
/** Largest message a client may send (stdin arrives in chunks far below this). */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Commands running at once through this server. */
const MAX_SESSIONS = 64;

/** The container `requested` names in `pod`, or its only container when none is named. */
export function execContainer(pod: K8sObject, requested: string | undefined): string {
  const names = ((pod.spec as { containers?: { name: string }[] } | undefined)?.containers ?? []).map((c) => c.name);
  if (requested === undefined) {
    if (names.length === 1) return names[0]!;
    throw badRequest(`a container name must be specified for pod ${pod.metadata.name}, choose one of: [${names.join(' ')}]`);
  }
  if (!names.includes(requested)) throw badRequest(`container ${requested} is not valid for pod ${pod.metadata.name}`);
  return requested;
}

function offeredProtocols(req: IncomingMessage): string[] {
  return (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
}

export class ExecServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols: (offered) => EXEC_PROTOCOLS.find((p) => offered.has(p)) ?? false,
  });

  private sessions = 0;

  constructor(private readonly ctx: ApiContext) {}

  /** Upgrades an authorized request for `pods/<name>/exec` of `pod`. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, pod: K8sObject, url: URL): void {
    const options = parseExecOptions(url);
    const container = execContainer(pod, options.container);
    podAddress(pod); // Running, with a network of its own
    const start = this.ctx.hooks.execInPod;
    if (!start) throw new ApiStatusError(503, 'InternalError', 'unable to upgrade connection: the sandbox node did not provide exec');
    if (!offeredProtocols(req).some((p) => EXEC_PROTOCOLS.includes(p))) {
      throw badRequest(`unable to upgrade connection: a WebSocket subprotocol (${EXEC_PROTOCOLS.join(' or ')}) is required`);
    }
    if (this.sessions >= MAX_SESSIONS) throw new ApiStatusError(429, 'TooManyRequests', `too many exec sessions at once (${MAX_SESSIONS})`);
    const target = { namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '', uid: pod.metadata.uid ?? '' };
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      let child: ExecProcess;
      try {
        child = start(target, container, options.command);
      } catch (error) {
        ws.send(failureFrame(`failed to exec in container: ${(error as Error).message}`));
        ws.close(1000);
        return;
      }
      this.serve(ws, child, options, `${target.namespace}/${target.name}/${container}`);
    });
  }

  private serve(ws: WebSocket, child: ExecProcess, options: ExecOptions, id: string): void {
    this.sessions += 1;
    log('-> %s open (%s): %o', id, ws.protocol, options.command);
    let ended = false;
    pumpToChannel(child.stdout, ws, options.stdout ? STDOUT : undefined);
    pumpToChannel(child.stderr, ws, options.stderr ? STDERR : undefined);
    for (const stream of [child.stdout, child.stderr]) stream.on('error', (error) => log('!! %s output: %s', id, error.message));
    if (!options.stdin) child.stdin.end();
    child.stdin.on('error', (error) => log('!! %s stdin: %s', id, error.message));

    ws.on('message', (data: Buffer) => {
      let message;
      try {
        message = parseClientFrame(data);
      } catch (error) {
        log('!! %s %s', id, (error as Error).message);
        ws.close(1002, 'bad message');
        return;
      }
      if (!message || !options.stdin || message.channel !== STDIN || child.stdin.writableEnded) return;
      if (message.kind === 'close') {
        child.stdin.end();
        return;
      }
      if (message.payload.length > 0 && !child.stdin.write(message.payload)) {
        ws.pause();
        child.stdin.once('drain', () => ws.resume());
      }
    });
    void child.exited.then((code) => {
      ended = true;
      log('<- %s exited %d', id, code);
      if (ws.readyState === ws.OPEN) {
        ws.send(statusFrame(code, options.command));
        ws.close(1000);
      }
    });
    ws.on('close', () => {
      this.sessions -= 1;
      if (!ended) {
        log('<- %s client went away: killing the command', id);
        child.kill();
      }
    });
    ws.on('error', (error) => log('!! %s %s', id, error.message));
  }

  close(): void {
    for (const client of this.wss.clients) client.terminate();
    this.wss.close();
  }
}
