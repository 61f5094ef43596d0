// Image tp/tls-echo-server: the HTTP echo server over TLS on $PORT (default 8443) with the PEM
// certificate and key at $TLS_CERT and $TLS_KEY. Leaves out client certificates.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { echoHandler, exitOnSignals, portFromEnv } from './echo-handler.js';

const port = portFromEnv(8443);
if (!process.env.TLS_CERT || !process.env.TLS_KEY) {
  console.error('TLS_CERT and TLS_KEY must name PEM files');
  process.exit(2);
}
const server = https.createServer({ cert: readFileSync(process.env.TLS_CERT), key: readFileSync(process.env.TLS_KEY) }, echoHandler);
server.listen(port, '0.0.0.0', () => console.log(`tls-echo-server listening on :${port}`));
exitOnSignals(() => server.close());
