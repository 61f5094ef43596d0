// Joins two byte streams both ways (a proxied client and its destination) and reports once when
// the pair is finished. Half-close passes through: when one side ends, the other side's writable
// half is ended and the reverse direction keeps flowing. An error or early close on either side
// destroys both, and a TCP socket among them is reset (RST), never ended: a FIN would tell a client
// reading a close-delimited body that it had all of it. Used by the SOCKS5 server and the HTTP
// proxy's CONNECT.
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export function pipeBothWays(left: Duplex, right: Duplex, onDone: (error?: Error) => void): void {
  let finished = false;
  let closed = 0;
  const done = (error?: Error): void => {
    if (finished) return;
    finished = true;
    const abort = (side: Duplex): void => {
      if (side.destroyed) return;
      if (side instanceof Socket) side.resetAndDestroy();
      else side.destroy(error);
    };
    if (error) {
      abort(left);
      abort(right);
    } else {
      left.destroy();
      right.destroy();
    }
    onDone(error);
  };
  const onClose = (other: Duplex): void => {
    closed += 1;
    if (closed === 2) done();
    // The side that closed never ended the other's writable half (no FIN passed through): it went
    // away abruptly, so the other side goes too. Otherwise the other side flushes and closes itself.
    else if (!other.writableEnded) done(new Error('the other side went away before it ended'));
  };
  left.on('error', done);
  right.on('error', done);
  left.on('close', () => onClose(right));
  right.on('close', () => onClose(left));
  left.pipe(right);
  right.pipe(left);
}
