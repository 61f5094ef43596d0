// The host's side of a Docker-mode connection, a small process of the user's: the connection's DNS
// stub on the host's 127.0.0.1, which checks who asks and hands each query to the daemon
// (dns-door.ts), and `tp run`'s redirect listener and routes file for the host (host-shims.ts);
// and, where the container needs them, at the engine's bridge gateway, a relay to a
// kubeconfig's API server on the host's loopback (kind, minikube, a local cluster), TLS and all (the
// daemon in the container checks the server's certificate as before; the relay sees only
// ciphertext), and the user's exec credential plugin run on request (credentials.ts). It prints its
// ports as one JSON line for tp connect (or {"error": …} when the DNS port is taken), and ends when
// the connection's folder is gone (tp quit) or when told to (SIGTERM).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { TpError } from '../errors.js';
import { logger, logUncaught, setLogSink } from '../log/logger.js';
import { RotatingFile } from '../log/rotating-file.js';
import { startCredentialsServer, type ExecPlugin } from './credentials.js';
import { companionGate, followDaemonRouting, startDnsDoor } from './dns-door.js';
import { startHostShims } from './host-shims.js';
import { hostDaemonPaths, hostPath, hostRoutesFile } from './connection.js';
import { shimFiles } from '../run/daemon/routes-file.js';
import { startForward } from './forward.js';

const WATCH_MS = 2000;

export interface CompanionOptions {
  /** The engine's bridge gateway, for the API relay and the credentials server. */
  listenHost?: string;
  /** Serve the doors on the host's 127.0.0.1 (the DNS stub at `dnsPort`, 0 for a free one, and tp run's redirect listener). */
  doors?: { dnsPort: number };
  /** The API server's host:port on this machine, when it is on loopback. */
  to?: string;
  /** The user's exec plugin and the secret file callers must show. */
  plugin?: ExecPlugin;
  secretFile?: string;
  dir: string;
}

/** What the companion prints once it listens. */
export interface CompanionPorts {
  dns?: number;
  relay?: number;
  credentials?: number;
}

export async function runCompanion(options: CompanionOptions): Promise<void> {
  // Its doors log a line per refusal, which another user can cause at will: the log is rotated as the daemon's is.
  const file = new RotatingFile(join(options.dir, 'companion.log'));
  setLogSink((line) => file.write(line));
  logUncaught(logger('tp:docker:companion'));
  const ports: CompanionPorts = {};
  if (options.doors) {
    const daemon = hostDaemonPaths(options.dir);
    const { captureSocket, routesFile } = shimFiles(daemon);
    const gate = await companionGate(daemon.stateDir);
    try {
      const routing = followDaemonRouting(daemon.controlSocket);
      ports.dns = (await startDnsDoor({ captureSocket, port: options.doors.dnsPort, gate, table: routing.table })).addresses.udp.port;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
      const refusal = new TpError('TP_ERR_PORT_IN_USE', `Port ${options.doors.dnsPort} for the DNS stub is already in use on 127.0.0.1.`, { hints: ['Pick another with --dns-port, or leave the flag out to get a free one.'] });
      process.stdout.write(`${JSON.stringify({ error: { code: refusal.code, message: refusal.message, hints: refusal.hints } })}\n`);
      process.exit(1);
    }
    await startHostShims({ daemonRoutesFile: routesFile, captureSocket, hostPath: (path) => hostPath(options.dir, path), routesFile: hostRoutesFile(options.dir), dnsPort: ports.dns, gate });
  }
  if (options.to && options.listenHost) {
    const at = options.to.lastIndexOf(':');
    ports.relay = (await startForward({ listenHost: options.listenHost, listenPort: 0, toHost: options.to.slice(0, at), toPort: Number(options.to.slice(at + 1)) })).port;
  }
  if (options.plugin && options.secretFile && options.listenHost) {
    ports.credentials = (await startCredentialsServer(options.listenHost, options.plugin, readFileSync(options.secretFile, 'utf8').trim())).port;
  }
  process.stdout.write(`${JSON.stringify(ports)}\n`);
  setInterval(() => {
    if (!existsSync(options.dir)) process.exit(0);
  }, WATCH_MS);
  await new Promise<never>(() => undefined);
}
