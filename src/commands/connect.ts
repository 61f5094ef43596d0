import { urlUserInfo, type DoorCredentials } from '../proxy/door-credentials.js';
import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { connectionFlags, daemonConfigFrom, namespaceFlag, logLevelFrom } from '../cli/kube-flags.js';
import { connect, type ConnectResult } from '../daemon/cli-to-daemon.js';
import { loadKubeConfig } from '../k8s/kubeconfig.js';
import type { LogLevel } from '../log/logger.js';
import { ALWAYS_DIRECT } from '../run/env.js';

export default class Connect extends TpCommand<ConnectResult> {
  static summary = 'Connect this machine to the cluster: start the daemon with its local SOCKS5, HTTP and DNS front doors.';
  static description = 'The daemon runs as you, in the background, and reaches the traffic-manager through the Kubernetes API (or --manager-url). Cluster names and addresses go through it; everything else stays direct.';
  static examples = [
    '<%= config.bin %> connect',
    '<%= config.bin %> connect --context staging --namespace team-a',
    '<%= config.bin %> connect --also-proxy 10.20.0.0/16 --also-proxy "*.rds.amazonaws.com"',
    '<%= config.bin %> connect --log-level debug',
  ];
  static flags = {
    ...connectionFlags,
    namespace: namespaceFlag('Namespace that single-label names resolve in (default: the config file\'s, else the context\'s namespace).'),
    'socks-port': Flags.integer({ description: 'Port of the SOCKS5 proxy (default: a free one, the same as last time when possible).' }),
    'http-port': Flags.integer({ description: 'Port of the HTTP proxy and PAC file.' }),
    'dns-port': Flags.integer({ description: 'Port of the DNS stub (UDP and TCP).' }),
  };

  private logLevel: LogLevel | undefined;

  async execute(): Promise<ConnectResult> {
    const { flags } = await this.parse(Connect);
    this.logLevel = logLevelFrom(flags['log-level']);
    // Checked here as well, so that a wrong context fails before any daemon starts.
    loadKubeConfig(flags);
    return connect(daemonConfigFrom(flags, { namespace: flags.namespace, socksPort: flags['socks-port'], httpPort: flags['http-port'], dnsPort: flags['dns-port'] }));
  }

  render({ alreadyConnected, status }: ConnectResult): string {
    const l = status.listeners!;
    const auth = urlUserInfo(l.credentials);
    return [
      `${alreadyConnected ? 'Already connected' : 'Connected'} to context ${status.context} (${status.server}), namespace ${status.namespace}.`,
      '',
      'Use the cluster from this shell (curl, browsers, most tools):',
      `  ${proxyExportLine(l)}`,
      `PAC file for browsers: ${l.pac}`,
      `SOCKS5: ${l.socks}   DNS: ${l.dns} (dig @127.0.0.1 -p ${l.dns.split(':')[1]} hello.${status.namespace})`,
      'Try: curl -x http://' + auth + l.http + ' http://<service>.' + status.namespace + '/',
      ...(alreadyConnected && this.logLevel && status.logLevel && this.logLevel !== status.logLevel
        ? [`The running daemon logs at ${status.logLevel}; for ${this.logLevel}, run \`tp quit\`, then connect again.`]
        : []),
    ].join('\n');
  }
}

/** The shell line that sends this shell's tools through tp: each variable in both cases, as `tp run` sets them, since wget and others read only the lower-case names. */
export function proxyExportLine(listeners: { http: string; socks: string; credentials?: DoorCredentials }): string {
  // Where the doors ask for credentials, every proxy URL carries them (door-credentials.ts).
  const auth = urlUserInfo(listeners.credentials);
  const values = { HTTPS_PROXY: `http://${auth}${listeners.http}`, HTTP_PROXY: `http://${auth}${listeners.http}`, ALL_PROXY: `socks5h://${auth}${listeners.socks}`, NO_PROXY: ALWAYS_DIRECT.join(',') };
  return `export ${Object.entries(values).flatMap(([name, value]) => [`${name}=${value}`, `${name.toLowerCase()}=${value}`]).join(' ')}`;
}
