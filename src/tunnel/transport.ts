// The minimal interface a Session needs from whatever carries its bytes: send a message, say how
// much is still queued, and report messages, drains and the end. WebSocket (ws-transport.ts) is
// one adapter, the in-memory pair (memory-transport.ts) another; nothing above the tunnel knows
// which one it runs on. Messages are opaque byte chunks; the session may split or batch frames
// across them freely, so a transport need not keep message boundaries.

export interface TransportHandler {
  /** Bytes from the peer. The buffer is the session's to keep (adapters must not reuse it). */
  message(data: Buffer): void;
  /** Some queued bytes left; bufferedAmount went down. */
  drain(): void;
  /** The transport is gone (after close() or because the peer or the network ended it). */
  close(error?: Error): void;
}

export interface Transport {
  /** Bytes handed to send() that have not yet left this process. */
  readonly bufferedAmount: number;
  /** A label for logs (peer address or pair name); never contains credentials. */
  readonly label: string;
  /** Sends one message. The caller will not touch `data` afterwards. */
  send(data: Buffer): void;
  /** Installs the session's handler; messages received before this are held and then delivered. */
  attach(handler: TransportHandler): void;
  /** Ends the transport; idempotent. With an error, tells the peer it was a failure if it can. */
  close(error?: Error): void;
}
