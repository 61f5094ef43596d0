// Sends a stream's bytes to a WebSocket client on one channel of the channel protocol (one channel
// byte, then payload), paced to the client: reading stops while more than MAX_QUEUED_BYTES are
// handed to the WebSocket and not yet written to its socket, and resumes as soon as the writes
// have brought that under half (each send's completion callback counts down), the way a real
// API server and kubelet copy (Go's io.Copy: the next read only after the write returned), with
// no timer between a drain and the next read. Used by portforward.ts and exec.ts.
import type { Readable } from 'node:stream';
import type { WebSocket } from 'ws';

/** What one channel may have queued in the WebSocket before its source is paused. */
const MAX_QUEUED_BYTES = 256 * 1024;

/** Sends `from` on `channel`; with channel undefined, reads and drops it (a stream nobody asked for). */
export function pumpToChannel(from: Readable, ws: WebSocket, channel: number | undefined): void {
  let queued = 0;
  let paused = false;
  const written = (bytes: number): void => {
    queued -= bytes;
    if (paused && queued <= MAX_QUEUED_BYTES / 2) {
      paused = false;
      from.resume();
    }
  };
  from.on('data', (data: Buffer) => {
    if (channel === undefined || ws.readyState !== ws.OPEN) return;
    const frame = Buffer.concat([Buffer.from([channel]), data]);
    queued += frame.length;
    ws.send(frame, () => written(frame.length));
    if (queued > MAX_QUEUED_BYTES && !paused) {
      paused = true;
      from.pause();
    }
  });
}
