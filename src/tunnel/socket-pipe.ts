// Joins a TunnelStream and a TCP socket both ways with TCP semantics: bytes flow with
// backpressure (relay: one 'data' listener per direction), a FIN on either side becomes a
// half-close on the other after every byte before it, and an error or reset on either side resets
// the other (socket.resetAndDestroy sends a TCP RST). Used by the dialer (manager side), the
// traffic-agent and local forwarders (laptop side). The socket is made half-open here whatever its
// creator said: without that, Node ends the socket's write side as soon as its peer half-closes,
// and answers still on their way are lost.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelStream } from './stream.js';

const NOTHING = Buffer.alloc(0);

export function pipeSocket(stream: TunnelStream, socket: Socket): void {
  socket.allowHalfOpen = true;
  socket.setNoDelay(true);
  relay(stream, socket);
  relay(socket, stream);
  stream.on('end', () => socket.end());
  onPeerEnd(socket, () => stream.end());
  socket.on('error', (error) => {
    if (!stream.destroyed) stream.destroy(error);
  });
  socket.on('close', (hadError) => {
    if (stream.destroyed) return;
    // Gone before its peer's FIN and without an error event: destroyed abruptly, so reset.
    if (hadError || !socket.readableEnded) return void stream.destroy();
    // An orderly close. What the socket sent still flushes to the stream as credit allows, with
    // a FIN after it; only bytes for the socket have nowhere to go.
    if (!stream.readableEnded) stream.resume();
  });
  stream.on('error', () => {
    if (!socket.destroyed) socket.resetAndDestroy();
  });
  stream.on('close', () => {
    if (!socket.destroyed && !(stream.readableEnded && stream.writableFinished)) socket.resetAndDestroy();
  });
}

/**
 * What pipe() does for one direction, without its per-pipe listeners and bookkeeping (a few
 * microseconds per stream open, which is most of what a short connection costs): chunks go on
 * with backpressure, and once `to` is gone or ended they have nowhere to go and are let go of.
 * Ends are the caller's (pipeSocket, pipeBothWays). `from` flows from here on even if its
 * creator paused it, as with pipe().
 */
export function relay(from: Duplex, to: Duplex): void {
  const resume = (): void => void from.resume();
  from.on('data', (chunk: Buffer) => {
    if (to.destroyed || to.writableEnded) return;
    if (!to.write(chunk)) {
      from.pause();
      to.once('drain', resume);
    }
  });
  from.resume();
}

/**
 * Calls `onFin` once the peer of a socket (or of any stream) has ended its side with a FIN. For
 * a TCP socket it first makes sure that the end was not a reset: libuv reports end of stream for
 * an RST that arrives while bytes are still unread, so a zero-length write, which fails with
 * ECONNRESET on a reset socket and succeeds on a half-closed one, tells them apart; a reset then
 * arrives as the socket's 'error' instead. Once our side has sent its own FIN no write can ask,
 * and the end counts as a FIN.
 */
export function onPeerEnd(side: Duplex, onFin: () => void): void {
  const ended = (): void => {
    if (!(side instanceof Socket) || !side.writable) return onFin();
    side.write(NOTHING, (error) => {
      if (!error) onFin();
    });
  };
  // Node emits 'end' even on a paused socket once its FIN is read and nothing is buffered: a
  // socket handed over after that (a connection closed before its stream opened, an HTTP upgrade
  // whose client sent its request and shut its side at once) ended already.
  if (side.readableEnded) process.nextTick(ended);
  else side.once('end', ended);
}
