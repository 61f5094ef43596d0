// Joins two byte streams both ways (a proxied client and its destination) with TCP semantics
// and reports once when the pair is finished. Both are made half-open whatever their creator
// said: when one side ends (a FIN, not a reset: onPeerEnd checks), the other side's writable
// half is ended after every byte before the FIN, and the reverse direction keeps flowing. An
// error (a reset) on either side, or a side that goes away without its FIN, resets the other: a
// TCP socket with an RST (resetAndDestroy), any other stream (a tunnel stream) with destroy(),
// which sends RESET. Each direction relays with one 'data' listener (relay, as pipeSocket does)
// instead of pipe(), whose per-pipe listeners cost more than the rest of a short connection's
// relaying. Used by the SOCKS5 server, the HTTP proxy's CONNECT, the redirect listener,
// the agent and the manager's intercept splice (two tunnel streams).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { onPeerEnd, relay } from '../tunnel/socket-pipe.js';

export function pipeBothWays(left: Duplex, right: Duplex, onDone: (error?: Error) => void): void {
  let finished = false;
  let closed = 0;
  const done = (error?: Error): void => {
    if (finished) return;
    finished = true;
    reset(left);
    reset(right);
    onDone(error);
  };
  const onClose = (side: Duplex, other: Duplex): void => {
    closed += 1;
    if (closed === 2) return done();
    // Went away before its FIN (destroyed, or an error already handled): the other side is reset.
    if (!side.readableEnded) return done();
    // An orderly close: its FIN was passed on; the other side flushes and closes by itself. Bytes
    // still coming for the closed side have nowhere to go: relay lets them go, and the other side
    // flows again if it waited for the closed side to drain.
    if (!other.readableEnded) other.resume();
  };
  for (const [side, other] of [[left, right], [right, left]] as const) {
    side.allowHalfOpen = true;
    side.on('error', done);
    side.on('close', () => onClose(side, other));
    relay(side, other);
    // The FIN passes on only once known not to be a reset (see onPeerEnd).
    onPeerEnd(side, () => other.end());
  }
}

/** Ends a side that is still open abruptly: an RST for a TCP socket, destroy() for others. */
export function reset(side: Duplex): void {
  if (side.destroyed) return;
  if (side instanceof Socket && !side.connecting) {
    try {
      return void side.resetAndDestroy();
    } catch {
      // Not a TCP handle (a Unix socket): destroy() below.
    }
  }
  side.destroy();
}

/**
 * For the HTTP proxy and the agent's router, which re-frame answers: an answer cut short upstream
 * (a reset, or a FIN before its declared length) resets the client's connection, so the client
 * sees a failure instead of waiting for the rest or taking a short answer as whole.
 */
export function resetClientIfCut(upstream: IncomingMessage, response: ServerResponse): void {
  upstream.once('close', () => {
    if (!upstream.complete && response.socket) reset(response.socket);
  });
}
