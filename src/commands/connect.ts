import { urlUserInfo, type DoorCredentials } from '../proxy/door-credentials.js';
import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { connectionFlags, daemonConfigFrom, namespaceFlag, logLevelFrom } from '../cli/kube-flags.js';
import { connect, type ConnectResult } from '../daemon/cli-to-daemon.js';
import { connectDocker, type DockerConnectResult } from '../docker/launch.js';
import { loadKubeConfig } from '../k8s/kubeconfig.js';
import type { LogLevel } from '../log/logger.js';
import { ALWAYS_DIRECT } from '../run/env.js';

export default class Connect extends TpCommand<ConnectResult & Partial<Pick<DockerConnectResult, 'docker'>>> {
  static summary = 'Connect this machine to the cluster: start the daemon with its local SOCKS5, HTTP and DNS front doors.';
  static description = 'The daemon runs as you, in the background, and reaches the traffic-manager through the Kubernetes API (or --manager-url). Cluster names and addresses go through it; everything else stays direct.';
  static examples = [
    '<%= config.bin %> connect',
    '<%= config.bin %> connect --context staging --namespace team-a',
    '<%= config.bin %> connect --also-proxy 10.20.0.0/16 --also-proxy "*.rds.amazonaws.com"',
    '<%= config.bin %> connect --log-level debug',
    '<%= config.bin %> connect --docker --name alpha --namespace alpha',
  ];
  static flags = {
    ...connectionFlags,
    namespace: namespaceFlag('Namespace that single-label names resolve in (default: the config file\'s, else the context\'s namespace).'),
    'socks-port': Flags.integer({ description: 'Port of the SOCKS5 proxy (default: a free one, the same as last time when possible).' }),
    'http-port': Flags.integer({ description: 'Port of the HTTP proxy and PAC file.' }),
    'dns-port': Flags.integer({ description: 'Port of the DNS stub (UDP and TCP).' }),
    docker: Flags.boolean({ description: 'Run the daemon in a container tp-<name> of your container engine; containers started with --network container:tp-<name> are inside the cluster (docs/docker.md).', helpGroup: 'DOCKER' }),
    name: Flags.string({ description: 'The Docker-mode connection\'s name (default: from the context and namespace).', dependsOn: ['docker'], helpGroup: 'DOCKER' }),
    image: Flags.string({ description: 'tp\'s image for the daemon\'s container (default: $TP_DOCKER_IMAGE, else $TP_IMAGE, else tp/tp:<version>).', dependsOn: ['docker'], helpGroup: 'DOCKER' }),
  };

  private logLevel: LogLevel | undefined;

  async execute(): Promise<ConnectResult & Partial<Pick<DockerConnectResult, 'docker'>>> {
    const { flags } = await this.parse(Connect);
    this.logLevel = logLevelFrom(flags['log-level']);
    // Checked here as well, so that a wrong context fails before any daemon starts.
    loadKubeConfig(flags);
    const config = daemonConfigFrom(flags, { namespace: flags.namespace, socksPort: flags['socks-port'], httpPort: flags['http-port'], dnsPort: flags['dns-port'] });
    if (flags.docker) return connectDocker({ config, name: flags.name, image: flags.image });
    return connect(config);
  }

  render({ alreadyConnected, status, docker }: ConnectResult & Partial<Pick<DockerConnectResult, 'docker'>>): string {
    const l = status.listeners!;
    const auth = urlUserInfo(l.credentials);
    return [
      `${alreadyConnected ? 'Already connected' : 'Connected'} to context ${status.context} (${status.server}), namespace ${status.namespace}.`,
      '',
      'Use the cluster from this shell (curl, browsers, most tools):',
      `  ${proxyExportLine(l)}`,
      `PAC file for browsers: ${l.pac}`,
      `SOCKS5: ${l.socks}   DNS: ${l.dns} (dig @127.0.0.1 -p ${l.dns.split(':')[1]} hello.${status.namespace})`,
      ...(docker ? [`Containers inside the cluster: docker run --network container:${docker.container} <image> (connection ${docker.name})`] : []),
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
