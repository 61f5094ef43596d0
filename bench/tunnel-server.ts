// Benchmark tunnel server (a separate process): tp's TunnelServer accepting streams and dialling
// their destinations, the shape of sshd's side of `ssh -L`. Args: token, then optionally the TLS
// cert and key files for wss://. Prints {"url": "..."} when listening.
import { readFileSync } from 'node:fs';
import { acceptByDialing, tokenAuthenticator, TunnelServer } from '../src/tunnel/index.js';

const [token, certFile, keyFile] = process.argv.slice(2);
const server = await TunnelServer.listen({
  authenticate: tokenAuthenticator(token, 'bench'),
  tls: certFile ? { cert: readFileSync(certFile), key: readFileSync(keyFile) } : undefined,
  session: { pingIntervalMs: 0, deadPeerTimeoutMs: 0, ...(process.env.BENCH_TP_WINDOW ? { initialWindow: Number(process.env.BENCH_TP_WINDOW) } : {}) },
});
server.on('session', (session) => {
  session.on('stream', (open) => void acceptByDialing(open));
});
process.stdout.write(JSON.stringify({ url: server.url }) + '\n');
process.on("SIGTERM", () => void server.destroy().then(() => process.exit(0)));
