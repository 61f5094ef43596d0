import { readFileSync } from 'node:fs';
import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import { kubeFlags } from '../../cli/kube-flags.js';
import { TpError } from '../../errors.js';
import { loadKubeConfig } from '../../k8s/kubeconfig.js';
import { logger, reportBadLogLevel } from '../../log/logger.js';
import { MANAGER_PORT_FORWARD_PORT, MANAGER_TUNNEL_PORT } from '../../api/names.js';
import { startManager } from '../../manager/server.js';

interface ServeResult {
  stoppedBy: string;
}

export default class ManagerServe extends TpCommand<ServeResult> {
  static summary = 'Run the traffic-manager (inside the cluster, or outside it with a kubeconfig for development).';
  static description = 'Settings come from flags or the environment the manager Deployment sets (TP_MANAGER_*); TP_LOG_LEVEL (debug, info, warn, error; default info) sets how much it logs. The client token is read from TP_MANAGER_CLIENT_TOKEN or --client-token-file, never from a flag value.';
  static examples = ['<%= config.bin %> manager serve', '<%= config.bin %> manager serve --kubeconfig ~/.kube/config --port 8081 --client-token-file token.txt'];
  static flags = {
    ...kubeFlags,
    namespace: Flags.string({ description: 'Namespace the manager runs in.', env: 'TP_MANAGER_NAMESPACE', default: 'tp' }),
    port: Flags.integer({ description: 'Port of the token-guarded tunnel endpoint.', env: 'TP_MANAGER_PORT', default: MANAGER_TUNNEL_PORT }),
    'port-forward-port': Flags.integer({ description: 'Loopback port reached through the Kubernetes port-forward.', env: 'TP_MANAGER_PORT_FORWARD_PORT', default: MANAGER_PORT_FORWARD_PORT }),
    'client-token-file': Flags.string({ description: 'File holding the client token (default: $TP_MANAGER_CLIENT_TOKEN).' }),
    'service-cidr': Flags.string({ description: 'Service address range(s); learned from Services when not given.', multiple: true }),
    'pod-cidr': Flags.string({ description: 'Pod address range(s); learned from pods when not given.', multiple: true }),
    'session-ttl': Flags.integer({ description: 'Seconds a client without a tunnel keeps its session.', env: 'TP_MANAGER_SESSION_TTL', default: 60 }),
    image: Flags.string({ description: 'Image of the traffic-agents it injects (default: its own Deployment\'s image).', env: 'TP_MANAGER_IMAGE' }),
  };

  async execute(): Promise<ServeResult> {
    const { flags } = await this.parse(ManagerServe);
    reportBadLogLevel(logger('tp:manager'));
    const clientToken = flags['client-token-file'] ? readFileSync(flags['client-token-file'], 'utf8').trim() : process.env.TP_MANAGER_CLIENT_TOKEN;
    if (!clientToken) {
      throw new TpError('TP_ERR_MANAGER_NO_TOKEN', 'The manager has no client token.', {
        hints: ['Set TP_MANAGER_CLIENT_TOKEN or pass --client-token-file <file>.'],
      });
    }
    const manager = await startManager({
      kc: loadKubeConfig({ ...flags, preferInCluster: true }),
      namespace: flags.namespace,
      clientToken,
      tunnelPort: flags.port,
      portForwardPort: flags['port-forward-port'],
      sessionTtlMs: flags['session-ttl'] * 1000,
      image: flags.image,
      cluster: { serviceCidrs: flags['service-cidr'], podCidrs: flags['pod-cidr'] },
    });
    this.logToStderr(`traffic-manager serving tunnels on :${manager.tunnelPort} and 127.0.0.1:${manager.portForwardPort}`);
    const signal = await new Promise<string>((resolve) => {
      for (const name of ['SIGTERM', 'SIGINT'] as const) process.once(name, () => resolve(name));
    });
    await manager.close();
    return { stoppedBy: signal };
  }

  render(result: ServeResult): string {
    return `traffic-manager stopped (${result.stoppedBy})`;
  }
}
