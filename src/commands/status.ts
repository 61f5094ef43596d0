import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { chooseConnection } from '../docker/select.js';
import { status } from '../daemon/cli-to-daemon.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import type { ManagerLinkStatus } from '../daemon/manager-link.js';
import type { InterceptStatus } from '../intercept/control.js';

type StatusResult = { connected: false } | ({ connected: true; docker?: { name: string; container: string; engine: string } } & DaemonStatus);

export default class Status extends TpCommand<StatusResult> {
  static summary = 'Show the daemon, its connection to the cluster, its listeners and tunnel figures.';
  static examples = ['<%= config.bin %> status', '<%= config.bin %> status --output json', '<%= config.bin %> status --use alpha'];
  static flags = {
    use: Flags.string({ description: 'Which connection, by name or pattern (* and ?), where there are several.' }),
  };

  async execute(): Promise<StatusResult> {
    const { flags } = await this.parse(Status);
    const chosen = await chooseConnection(flags.use);
    if (chosen?.kind === 'docker') {
      // Docker mode's code (and the Kubernetes client it imports) loads only for a Docker-mode connection.
      const { dockerStatus } = await import('../docker/launch.js');
      const inContainer = await dockerStatus(chosen.record, chosen.dir);
      const docker = { name: chosen.name, container: chosen.record.container, engine: chosen.record.engine };
      return inContainer ? { connected: true, docker, ...inContainer } : { connected: false };
    }
    const current = await status();
    return current ? { connected: true, ...current } : { connected: false };
  }

  render(result: StatusResult): string {
    if (!result.connected) return 'Not connected. Run `tp connect` to start.';
    const m = result.manager;
    const lines = [
      `Daemon:     ${result.phase} (pid ${result.pid}, tp ${result.version}, since ${result.startedAt})`,
      `Context:    ${result.context} (${result.server})`,
      `Namespace:  ${result.namespace}`,
    ];
    if (result.docker) lines.push(`Container network : container:${result.docker.container} (connection ${result.docker.name})`, `Engine:     ${result.docker.engine}`);
    if (result.error) lines.push(`Error:      ${result.error.message} (${result.error.code})`);
    if (m) {
      lines.push(`Manager:    ${m.state} since ${m.stateSince} via ${m.via}${m.managerPod ? ` (pod ${result.managerNamespace}/${m.managerPod})` : ''}, version ${m.managerVersion ?? '?'}, session ${m.sessionId ?? '-'}`);
      lines.push(`            ${describeLink(m)}`);
      for (const t of m.tunnels) lines.push(`  ${describeTunnel(t)}`);
    }
    if (result.listeners) {
      const l = result.listeners;
      lines.push(`SOCKS5:     ${l.socks}`, `HTTP proxy: ${l.http}`, `PAC file:   ${l.pac}`, `DNS stub:   ${l.dns}`);
      if (l.credentials) lines.push(`Doors:      ask for user ${l.credentials.user} and the secret in the proxy URLs \`tp connect\` prints; the DNS stub refuses every caller it cannot tell is yours (DNS carries no credentials)`);
    }
    if (result.routing) lines.push(`Routes:     services ${result.routing.serviceCidrs.join(' ') || '-'}, pods ${result.routing.podCidrs.join(' ') || '-'}, domain ${result.routing.clusterDomain}`);
    const intercepts = (result.features?.intercepts ?? []) as InterceptStatus[];
    lines.push(`Intercepts: ${intercepts.length === 0 ? 'none' : ''}`);
    for (const i of intercepts) {
      lines.push(`  ${i.name}: ${i.state} ${i.mode}, ${i.workload}, ${i.intercepting} -> ${i.destination}${i.message ? ` (${i.message})` : ''}`);
      if (i.warning) lines.push(`    warning: ${i.warning}`);
    }
    lines.push(`Log:        ${result.logFile}${result.logLevel ? ` (level ${result.logLevel})` : ''}`);
    return lines.join('\n');
  }
}

/** One tunnel's figures; its round trip is measured as it connects, so "measuring" is only seen in that instant. */
export function describeTunnel(t: ManagerLinkStatus['tunnels'][number]): string {
  return `tunnel ${t.id}: ${t.openStreams} streams, ${t.bytesIn} B in, ${t.bytesOut} B out, rtt ${t.rttMs === undefined ? 'measuring' : `${t.rttMs.toFixed(1)} ms`}`;
}

/** The link's health in one line: an outage going on (since when, attempts, next try, last error) or the last one. */
export function describeLink(m: ManagerLinkStatus, now = Date.now()): string {
  const outage = m.outage;
  if (m.state === 'reconnecting' && outage && !outage.until) {
    const next = outage.nextAttemptAt ? `, next try in ${seconds(Date.parse(outage.nextAttemptAt) - now)}` : ', trying now';
    return `no tunnel since ${outage.since} (${seconds(now - Date.parse(outage.since))}), ${outage.attempts} failed attempt${outage.attempts === 1 ? '' : 's'}${next}; last error: ${outage.lastError ?? m.lastError ?? 'none'}`;
  }
  const parts = [`reconnects ${m.reconnects}`];
  if (outage?.until) parts.push(`last outage ${outage.since} for ${seconds(Date.parse(outage.until) - Date.parse(outage.since))}${outage.lastError ? ` (${outage.lastError})` : ''}`);
  else if (m.lastError) parts.push(`last error: ${m.lastError}`);
  return parts.join(', ');
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}
