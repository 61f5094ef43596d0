// The tunnel's public surface: what the daemon, manager and agent import.
export * from './protocol.js';
export { TunnelError, OpenError, type TunnelErrorCode } from './errors.js';
export type { Frame, OpenMetadata } from './frame.js';
export { encodeFrame, encodeHeader } from './frame-encoder.js';
export { FrameDecoder, type FrameDecoderOptions } from './frame-decoder.js';
export type { Transport, TransportHandler } from './transport.js';
export { createMemoryTransportPair } from './memory-transport.js';
export { WebSocketTransport, CloseCode } from './ws-transport.js';
export { Session, type SessionOptions, type SessionStats } from './session.js';
export { TunnelStream } from './stream.js';
export { IncomingOpen, type OpenRequest } from './incoming-open.js';
export type { ControlEvent, RpcHandler } from './control-channel.js';
export { connectTunnel, connectWebSocket, type ConnectOptions } from './ws-client.js';
export { TunnelServer, type TunnelServerOptions } from './ws-server.js';
export { bearerToken, tokenAuthenticator, tokensEqual, type Authenticate } from './auth.js';
export { acceptByDialing, openErrorCode, type DialOptions } from './dialer.js';
export { pipeSocket } from './socket-pipe.js';
export { SessionPool, PoolDefaults, type SessionPoolOptions } from './pool.js';
