// Joins a TunnelStream and a TCP socket both ways with TCP semantics: bytes flow with
// backpressure (pipe), a FIN on either side becomes a half-close on the other, and an error or
// reset on either side resets the other (socket.resetAndDestroy sends a TCP RST). Used by the
// dialer (manager side) and by local forwarders (laptop side). Give it sockets made with
// `allowHalfOpen: true`, or Node ends the socket's write side as soon as its peer half-closes
// and the stream gets reset when the socket closes early.
import type { Socket } from 'node:net';
import type { TunnelStream } from './stream.js';

export function pipeSocket(stream: TunnelStream, socket: Socket): void {
  socket.setNoDelay(true);
  stream.pipe(socket);
  socket.pipe(stream);
  socket.on('error', (error) => {
    if (!stream.destroyed) stream.destroy(error);
  });
  socket.on('close', (hadError) => {
    // A socket that went away before both directions ended cleanly aborts the stream.
    if (!stream.destroyed && (hadError || !socket.readableEnded || !stream.readableEnded)) stream.destroy();
  });
  stream.on('error', () => {
    if (!socket.destroyed) socket.resetAndDestroy();
  });
  stream.on('close', () => {
    if (!socket.destroyed && !(stream.readableEnded && stream.writableFinished)) socket.resetAndDestroy();
  });
}
