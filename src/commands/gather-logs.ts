import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { kubeFlags, managerNamespaceFlag } from '../cli/kube-flags.js';
import { daemonPaths } from '../daemon/paths.js';
import { daemonPathsFor } from '../docker/select.js';
import { defaultArchiveName, gatherLogs, type GatherResult } from '../gather/gather.js';

export default class GatherLogs extends TpCommand<GatherResult> {
  static summary = 'Pack what is needed to report a problem into one .tar.gz, with tokens and environment values taken out.';
  static description = 'The daemon\'s logs (with the rotated files), `tp status --output json`, the versions of tp, Node, the OS, kubectl and the manager, the effective configuration, and the logs of the traffic-manager and of the agents in your namespaces as far as your RBAC lets you read them (what it does not is noted in notes.txt). Look inside before you send it.';
  static examples = ['<%= config.bin %> gather-logs', '<%= config.bin %> gather-logs --output-file /tmp/tp-problem.tar.gz', '<%= config.bin %> gather-logs --no-cluster', '<%= config.bin %> gather-logs --use alpha'];
  static flags = {
    ...kubeFlags,
    'manager-namespace': managerNamespaceFlag,
    // -o is --output (text|json) in every tp command, so the archive's name has its own flag.
    'output-file': Flags.string({ char: 'f', description: 'The archive to write (.tar.gz or .tgz; default: tp-logs-<time>.tar.gz here).' }),
    'no-cluster': Flags.boolean({ description: 'Leave out the cluster: no logs from the manager or the agents.', default: false }),
    use: Flags.string({ description: 'Which connection, by name or pattern (* and ?), where there are several.' }),
  };

  async execute(): Promise<GatherResult> {
    const { flags } = await this.parse(GatherLogs);
    const { paths, connection } = await daemonPathsFor(flags.use);
    return gatherLogs({
      file: flags['output-file'] ?? defaultArchiveName(),
      kubeconfig: flags.kubeconfig,
      context: flags.context,
      managerNamespace: flags['manager-namespace'],
      paths: paths ?? daemonPaths(),
      noCluster: flags['no-cluster'],
      companionDir: connection?.kind === 'docker' ? connection.dir : undefined,
    });
  }

  render({ file, bytes, entries, notes }: GatherResult): string {
    return [
      `Wrote ${file} (${bytes} bytes, ${entries.length} files):`,
      ...entries.map((e) => `  ${e.name} (${e.bytes} bytes)`),
      ...(notes.length > 0 ? ['Not gathered:', ...notes.map((n) => `  ${n}`)] : []),
      'Tokens and environment values are taken out; look inside before you send it.',
    ].join('\n');
  }
}
