// Image tp/echo-server: an HTTP echo server on $PORT (default 8080) answering with the pod's name,
// method, path and headers (echo-handler.ts). Leaves out TLS (tls-echo-server.ts does that).
import http from 'node:http';
import { echoHandler, exitOnSignals, portFromEnv } from './echo-handler.js';

const port = portFromEnv(8080);
const server = http.createServer(echoHandler);
server.listen(port, '0.0.0.0', () => console.log(`echo-server listening on :${port}`));
exitOnSignals(() => server.close());
