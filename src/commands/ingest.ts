import { Args, Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { connectionFlags, daemonConfigFrom } from '../cli/kube-flags.js';
import { ingest, leaveIngest, type IngestCommandResult } from '../intercept/ingest.js';
import { ENV_SYNTAXES, type EnvSyntax } from '../intercept/env-file.js';
import { mountFlags, netnsFlags, netnsMode, parseMountFlags, splitAtDashes, withMountValue } from '../intercept/flags.js';

type Result = IngestCommandResult | { removed: string };

export default class Ingest extends TpCommand<Result> {
  static summary = 'Get a workload\'s environment and a live copy of its files on this machine, without taking any of its traffic.';
  static description =
    'Connects when no daemon runs, puts a traffic-agent into the workload if it has none (its pods restart once; they keep serving), and copies the pod\'s volume mounts under TP_ROOT. With `-- <cmd>` the command runs with the pod\'s environment and the ingest ends when it exits; otherwise end it with --leave. Several users may ingest one workload.';
  static examples = [
    '<%= config.bin %> ingest hello --env-file hello.env',
    '<%= config.bin %> ingest hello -- sh -c \'cat "$TP_ROOT/etc/hello/app.conf"\'',
    '<%= config.bin %> ingest hello --leave',
  ];
  static strict = false;
  static args = { workload: Args.string({ description: 'Deployment, StatefulSet or ReplicaSet (name or Kind/name).', required: true }) };
  static flags = {
    ...connectionFlags,
    namespace: Flags.string({ char: 'n', description: 'Namespace of the workload (default: the connected one).' }),
    container: Flags.string({ char: 'c', description: 'The container (default: the one the traffic-agent serves, which is the only one tp can copy).' }),
    'env-file': Flags.string({ description: 'Write the pod\'s environment to this file.', aliases: ['env-out'] }),
    'env-syntax': Flags.option({ description: 'Syntax of --env-file.', options: ENV_SYNTAXES, default: 'docker' as EnvSyntax })(),
    'env-json': Flags.string({ description: 'Write the pod\'s environment to this file as JSON.' }),
    ...mountFlags,
    ...netnsFlags,
    leave: Flags.boolean({ description: 'End your ingest of this workload (and remove its copy).' }),
  };

  async run(): Promise<Result> {
    const result = await super.run();
    if ('exitCode' in result && result.exitCode !== undefined) process.exitCode = result.exitCode;
    return result;
  }

  async execute(): Promise<Result> {
    const { tpArgv, command } = splitAtDashes(this.argv);
    const { args, flags } = await this.parse(Ingest, withMountValue(tpArgv));
    if (flags.leave) return leaveIngest({ workload: args.workload, namespace: flags.namespace });
    return ingest({
      connect: daemonConfigFrom(flags),
      params: { workload: args.workload, namespace: flags.namespace, container: flags.container, mount: parseMountFlags(flags) },
      envFile: flags['env-file'] ? { path: flags['env-file'], syntax: flags['env-syntax'] } : undefined,
      envJson: flags['env-json'],
      command: command.length ? { command: command[0], args: command.slice(1), layers: { envOnly: false, preload: true, nodeShim: true }, netns: netnsMode(flags) } : undefined,
      warn: (message) => this.logToStderr(`tp: ${message}`),
    });
  }

  render(result: Result): string {
    if ('removed' in result) return `Ended ${result.removed}`;
    if (result.exitCode !== undefined) return '';
    return [
      `Ingest:      ${result.name}`,
      `Workload:    ${result.workload} (pod ${result.pod})`,
      ...(result.environment.TP_ROOT ? [`Files:       ${result.environment.TP_ROOT} (TP_ROOT)`] : []),
      `End with:    tp ingest ${result.workload.split('/')[1]} --leave`,
    ].join('\n');
  }
}
