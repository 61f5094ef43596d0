// The daemon's settings, as `tp connect` (and `tp run`, `tp intercept` when they start one) hands
// them to `tp daemon run` in its --config JSON. Used by the launcher, the daemon and its features.
import type { LogLevel } from '../log/logger.js';

/** What the CLI hands the daemon: connection settings only, never credentials. */
export interface DaemonConfig {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  managerNamespace: string;
  managerUrl?: string;
  alsoProxy: string[];
  neverProxy: string[];
  socksPort?: number;
  httpPort?: number;
  dnsPort?: number;
  /** The daemon's log level (default: info). */
  logLevel?: LogLevel;
}
