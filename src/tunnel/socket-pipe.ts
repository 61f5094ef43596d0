// Joins a TunnelStream and a TCP socket both ways with TCP semantics: bytes flow with
// backpressure (pipe), a FIN on either side becomes a half-close on the other, and an error or
// reset on either side resets the other (socket.resetAndDestroy sends a TCP RST). Used by the
// dialer (manager side) and by local forwarders (laptop side).
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
    // A socket closed without both directions ending cleanly aborts the stream.
    if (!stream.destroyed && (hadError || !stream.writableFinished)) stream.destroy();
  });
  stream.on('error', () => {
    if (!socket.destroyed) socket.resetAndDestroy();
  });
  stream.on('close', () => {
    if (!socket.destroyed && !(stream.readableEnded && stream.writableFinished)) socket.resetAndDestroy();
  });
}
