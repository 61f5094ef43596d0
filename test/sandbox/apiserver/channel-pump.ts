// Sends a stream's bytes to a WebSocket client on one channel of the channel protocol (one channel
// byte, then payload), paced to the client: reading stops while more than MAX_BUFFERED_BYTES are
// queued toward it and resumes below half of that. Used by portforward.ts and exec.ts.
import type { Readable } from 'node:stream';
import type { WebSocket } from 'ws';

const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/** Sends `from` on `channel`; with channel undefined, reads and drops it (a stream nobody asked for). */
export function pumpToChannel(from: Readable, ws: WebSocket, channel: number | undefined): void {
  from.on('data', (data: Buffer) => {
    if (channel === undefined || ws.readyState !== ws.OPEN) return;
    ws.send(Buffer.concat([Buffer.from([channel]), data]));
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      from.pause();
      const resume = setInterval(() => {
        if (ws.bufferedAmount <= MAX_BUFFERED_BYTES / 2 || ws.readyState !== ws.OPEN) {
          clearInterval(resume);
          from.resume();
        }
      }, 10);
    }
  });
}
