// Image tp/tcp-echo: a raw TCP echo server on $PORT (default 9000); every byte received is sent
// back. If $GREETING is set it is sent first (with the pod name substituted for {pod}), so tests
// can tell which pod they reached. Leaves out UDP.
import net from 'node:net';
import { exitOnSignals, portFromEnv } from './echo-handler.js';

const port = portFromEnv(9000);
const greeting = process.env.GREETING?.replace('{pod}', process.env.HOSTNAME ?? '');
const server = net.createServer((socket) => {
  socket.on('error', () => socket.destroy());
  if (greeting) socket.write(`${greeting}\n`);
  socket.pipe(socket);
});
server.listen(port, '0.0.0.0', () => console.log(`tcp-echo listening on :${port}`));
exitOnSignals(() => server.close());
