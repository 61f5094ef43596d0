// Benchmark local forwarder (a separate process), the shape of ssh's side of `ssh -L`: listen on
// 127.0.0.1, turn each accepted connection into a tunnel stream to a fixed destination. Args:
// url, token, destination port, sessions in the pool, optional CA file. Prints {"port": n}.
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { connectTunnel, pipeSocket, SessionPool } from '../src/tunnel/index.js';

const [url, token, destinationPort, poolSize, caFile] = process.argv.slice(2);
const ca = caFile ? readFileSync(caFile) : undefined;
const pool = new SessionPool({ size: Number(poolSize), connect: () => connectTunnel(url, { token, ca, session: process.env.BENCH_TP_WINDOW ? { initialWindow: Number(process.env.BENCH_TP_WINDOW) } : {} }) });
await pool.start();
const listener = net.createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('error', () => {});
  socket.pause();
  pool.open({ host: '127.0.0.1', port: Number(destinationPort) }).then(
    (stream) => {
      pipeSocket(stream, socket);
      socket.resume();
    },
    () => socket.resetAndDestroy(),
  );
});
listener.listen(0, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ port: (listener.address() as net.AddressInfo).port }) + '\n');
});
process.on('SIGTERM', () => {
  listener.close();
  pool.destroy();
  process.exit(0);
});
