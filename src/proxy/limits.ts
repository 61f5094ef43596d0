// The laptop front doors' bounds in one place: how long a client may take over a message
// (deadlines) and how much each listener holds at once (caps), each with its reason, and the
// ConnectionCap that counts a listener's connections. One module instead of constants spread
// over five listeners because the numbers depend on each other (the connection caps against the
// 10,000-connection goal and the daemon's open-file limit; the deadlines against each other) and
// are read and tuned together. Each listener still takes its own values as options, so tests
// shrink them. Wire-format maxima (SOCKS5 greeting and request, the hand-over datagram, the
// control line) stay with their parsers; tp run's hand-over wait stays in redirect-listener.ts.
// Used by socks-server.ts, http-proxy.ts, dns/transport.ts, run/daemon/redirect-listener.ts and
// daemon/control-server.ts.

// ---- Deadlines: a client that is slow to send a message is cut off. ----

/**
 * SOCKS5: from accept to a complete request (greeting included). A local client sends both in
 * two loopback round trips; 10 s leaves room for a loaded machine and still frees a connection
 * that never sends a first byte or trickles one a second.
 */
export const SOCKS_HANDSHAKE_DEADLINE_MS = 10_000;

/**
 * HTTP proxy and PAC file: from accept to a complete request head, and on a keep-alive
 * connection from the first byte of the next head to its end (Node's headersTimeout). A body
 * (an upload) is data, not a head: it has no deadline, like a CONNECT tunnel.
 */
export const HTTP_HEAD_DEADLINE_MS = 10_000;

/** HTTP proxy: a keep-alive connection idle between requests is closed after this (Node's default). */
export const HTTP_KEEP_ALIVE_IDLE_MS = 5_000;

/** DNS over TCP: from the first byte of a length-prefixed message to its last (issue 9 names 5 s). */
export const DNS_TCP_MESSAGE_DEADLINE_MS = 5_000;

/**
 * DNS over TCP: a connection with no byte in either direction for this long is closed
 * (RFC 7766 §6.2.3 asks servers to close idle connections; this also frees one that never sends).
 */
export const DNS_TCP_IDLE_MS = 10_000;

/**
 * Control socket: from accept to the first request line, and from the first byte of any line to
 * its newline. The CLI writes a whole line at once; between requests a connection may stay idle
 * (a command holds it while the daemon works for it).
 */
export const CONTROL_LINE_DEADLINE_MS = 10_000;

// ---- Caps: what one listener holds at once. ----

/**
 * SOCKS5, HTTP proxy and tp run's redirect listener: client connections open at once, established
 * ones included. Issue 9 asks for 10,000 concurrent connections through SOCKS5 and tp run, so a
 * cap that counted only handshakes would have to be as large anyway to survive a burst of
 * 10,000 connects (they all sit in their handshake for a moment); counting every connection also
 * bounds what a hostile local client can hold. 16,384 is the goal plus ~60% headroom for pools and
 * browsers; a tunnelled connection costs the daemon one descriptor, so it fits the open-file hard
 * limit Node raises itself to (systemd's default is 524,288). Partial messages are small here (SOCKS5 ≤ 262 bytes, a hand-over waits
 * with reading paused); the HTTP head bound is HTTP_MAX_HEAD_BYTES.
 */
export const MAX_PROXY_CONNECTIONS = 16_384;

/** HTTP proxy: the longest request head (Node's maxHeaderSize, its own default), answered 431. */
export const HTTP_MAX_HEAD_BYTES = 16 * 1024;

/**
 * DNS over TCP: connections open at once. Clients use TCP only for truncated answers and reuse a
 * connection (RFC 7766), so a laptop needs a handful; 256 × a 64 KiB partial message bounds the
 * buffered bytes to 16 MiB. Over it the connection is closed at once (a client then retries).
 */
export const MAX_DNS_TCP_CONNECTIONS = 256;

/** DNS over TCP: queries one connection may have unanswered at once; past it the connection is closed. */
export const MAX_DNS_TCP_IN_FLIGHT = 32;

/**
 * DNS over UDP: queries being answered at once. Each forwarded one holds its own UDP socket (a
 * descriptor) until the resolver answers or times out; over the cap a query gets SERVFAIL at
 * once, so the client's resolver moves on instead of waiting out its timeout.
 */
export const MAX_DNS_UDP_IN_FLIGHT = 1_024;

/**
 * Control socket: connections open at once. Each tp command holds one for its run; 128 parallel
 * commands is far beyond a person or a build script, and the socket is the user's own (0600).
 */
export const MAX_CONTROL_CONNECTIONS = 128;

interface Closable {
  once(event: 'close', listener: () => void): unknown;
}

/** Counts a listener's open client connections against a maximum. */
export class ConnectionCap {
  private open = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.open;
  }

  /** Counts the connection until it closes and returns true, or returns false when full. */
  admit(connection: Closable): boolean {
    if (this.open >= this.max) return false;
    this.open += 1;
    connection.once('close', () => {
      this.open -= 1;
    });
    return true;
  }
}
