// Flags shared by every command that talks to a cluster, with kubectl's names and meanings, and
// the flags of every command that may start the daemon (connect, run, intercept), with the one
// function that turns them into the daemon's configuration. Where the user's config file
// (config-file.ts) has a value, it is the flag's default.
import { Flags } from '@oclif/core';
import type { DaemonConfig } from '../daemon/config.js';
import { userConfig } from './config-file.js';
import { TpError } from '../errors.js';
import { LOG_LEVEL_ENV, LOG_LEVELS, parseLogLevel, type LogLevel } from '../log/logger.js';

export const kubeFlags = {
  kubeconfig: Flags.string({ description: 'Path to the kubeconfig file (default: $KUBECONFIG or ~/.kube/config).', helpGroup: 'KUBERNETES' }),
  context: Flags.string({ description: 'The kubeconfig context to use (default: the current context).', helpGroup: 'KUBERNETES' }),
};

const FROM_FILE = '(default: the config file\'s, see `tp config view`)';

export const managerNamespaceFlag = Flags.string({
  description: 'Namespace of the traffic-manager.',
  default: async () => userConfig()['manager-namespace'] ?? 'tp',
  helpGroup: 'KUBERNETES',
});

/** `--namespace`/`-n` of the commands that may start the daemon: the config file's, else the context's. */
export function namespaceFlag(description: string) {
  return Flags.string({ char: 'n', description, default: async () => userConfig().namespace });
}

/** How the daemon connects; commands other than `tp connect` use them only when they start one. */
export const connectionFlags = {
  ...kubeFlags,
  'manager-namespace': managerNamespaceFlag,
  'manager-url': Flags.string({ description: 'Reach the manager at this ws:// or wss:// URL instead of through the Kubernetes API.', helpGroup: 'CONNECTION' }),
  'also-proxy': Flags.string({ description: `CIDR or name pattern to reach through the cluster as well ${FROM_FILE}.`, multiple: true, default: async () => userConfig()['also-proxy'], helpGroup: 'CONNECTION' }),
  'never-proxy': Flags.string({ description: `CIDR or name pattern that always stays direct ${FROM_FILE}.`, multiple: true, default: async () => userConfig()['never-proxy'], helpGroup: 'CONNECTION' }),
  'log-level': Flags.string({
    description: `How much the daemon logs: ${LOG_LEVELS.join(', ')}. Info (the default) has its lifecycle, errors and failed connections; debug adds a line per connection.`,
    env: LOG_LEVEL_ENV,
    default: async () => userConfig()['log-level'],
    helpGroup: 'CONNECTION',
  }),
};

interface ConnectionFlagValues {
  kubeconfig?: string;
  context?: string;
  'manager-namespace': string;
  'manager-url'?: string;
  'also-proxy'?: string[];
  'never-proxy'?: string[];
  'log-level'?: string;
}

export function daemonConfigFrom(flags: ConnectionFlagValues, extra: Partial<DaemonConfig> = {}): DaemonConfig {
  return {
    kubeconfig: flags.kubeconfig,
    context: flags.context,
    managerNamespace: flags['manager-namespace'],
    managerUrl: flags['manager-url'],
    namespace: userConfig().namespace,
    alsoProxy: flags['also-proxy'] ?? [],
    neverProxy: flags['never-proxy'] ?? [],
    logLevel: logLevelFrom(flags['log-level']),
    ...extra,
  };
}

/** The daemon's level from --log-level or TP_LOG_LEVEL (oclif reads the variable); undefined means the default. */
export function logLevelFrom(value: string | undefined): LogLevel | undefined {
  if (value === undefined || value === '') return undefined;
  const level = parseLogLevel(value);
  if (level) return level;
  throw new TpError('TP_ERR_LOG_LEVEL', `"${value.slice(0, 40)}" is not a log level.`, {
    hints: [`Use one of ${LOG_LEVELS.join(', ')} with --log-level or ${LOG_LEVEL_ENV}.`],
  });
}
