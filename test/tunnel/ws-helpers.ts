// Fixtures for tunnel tests over real WebSockets on loopback: a server with a known token and a
// connected client session, torn down by the caller.
import { randomBytes } from 'node:crypto';
import { tokenAuthenticator } from '../../src/tunnel/auth.js';
import type { Session, SessionOptions } from '../../src/tunnel/session.js';
import { connectTunnel } from '../../src/tunnel/ws-client.js';
import { TunnelServer } from '../../src/tunnel/ws-server.js';

export async function wsPair(sessionOptions: Omit<SessionOptions, 'role'> = {}): Promise<{ server: TunnelServer<string>; serverSession: Session; client: Session; token: string; close(): Promise<void> }> {
  const token = randomBytes(16).toString('hex');
  const server = await TunnelServer.listen({ authenticate: tokenAuthenticator(token, 'tester'), session: sessionOptions });
  const serverSession = new Promise<Session>((resolve) => server.once('session', (session) => resolve(session)));
  const client = await connectTunnel(server.url, { token, session: sessionOptions });
  return {
    server,
    serverSession: await serverSession,
    client,
    token,
    close: async () => {
      client.destroy();
      await server.destroy();
    },
  };
}
