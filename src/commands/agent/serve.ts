import { TpCommand } from '../../cli/base-command.js';
import { parseAgentConfig } from '../../agent/config.js';
import { TrafficAgent } from '../../agent/agent.js';
import { logger, reportBadLogLevel } from '../../log/logger.js';

interface ServeResult {
  workload: string;
  stoppedBy: string;
}

export default class AgentServe extends TpCommand<ServeResult> {
  static summary = 'Run the traffic-agent (the sidecar the traffic-manager injects into intercepted workloads).';
  static description =
    'Settings come from the environment the manager gives the injected container: TP_AGENT_MANAGER_URL, TP_AGENT_TOKEN, TP_AGENT_WORKLOAD, TP_AGENT_CONTAINER, TP_AGENT_NAMESPACE, TP_AGENT_POD, TP_AGENT_POD_IP and TP_AGENT_PORTS. Every other variable is reported to the manager as the app container\'s environment.';
  static examples = ['<%= config.bin %> agent serve'];
  static hidden = true;

  async execute(): Promise<ServeResult> {
    await this.parse(AgentServe);
    reportBadLogLevel(logger('tp:agent'));
    const config = parseAgentConfig(process.env);
    const agent = new TrafficAgent(config);
    const listeners = await agent.start();
    this.logToStderr(`traffic-agent for ${config.workload.kind}/${config.workload.name}: ${listeners.map((l) => `:${l.boundPort}→app:${l.appPort}`).join(' ')}`);
    const signal = await new Promise<string>((resolve) => {
      for (const name of ['SIGTERM', 'SIGINT'] as const) process.once(name, () => resolve(name));
    });
    await agent.close();
    return { workload: `${config.workload.kind}/${config.workload.name}`, stoppedBy: signal };
  }

  render(result: ServeResult): string {
    return `traffic-agent for ${result.workload} stopped (${result.stoppedBy})`;
  }
}
