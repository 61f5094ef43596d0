import { Args, Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { connectionFlags, daemonConfigFrom } from '../cli/kube-flags.js';
import { intercept, type InterceptResult } from '../intercept/intercept.js';
import { ENV_SYNTAXES, type EnvSyntax } from '../intercept/env-file.js';
import { mountFlags, netnsFlags, netnsMode, parseHeaders, parseMountFlags, parsePortFlag, splitAtDashes, withMountValue } from '../intercept/flags.js';
import { interceptDockerRun } from '../docker/docker-run.js';
import { daemonPathsFor } from '../docker/select.js';
import { TpError } from '../errors.js';

export default class Intercept extends TpCommand<InterceptResult> {
  static summary = 'Send a workload\'s traffic (all of it, or only requests with your headers) to a port on this machine.';
  static description =
    'Connects when no daemon runs, puts a traffic-agent into the workload (its pods restart once), waits until the intercept is active and prints it. With `-- <cmd>` the command runs with the pod\'s environment and the intercept ends when it exits.';
  static examples = [
    '<%= config.bin %> intercept hello --port 8080',
    '<%= config.bin %> intercept hello --port 8080:http --http-header x-dev=alice',
    '<%= config.bin %> intercept hello --port 8080 --env-file hello.env -- npm start',
    '<%= config.bin %> intercept hello --use alpha --port 8080:80 --docker-run -- my-handler:dev',
  ];
  static strict = false;
  static args = { workload: Args.string({ description: 'Deployment, StatefulSet or ReplicaSet (name or Kind/name).', required: true }) };
  static flags = {
    ...connectionFlags,
    port: Flags.string({ char: 'p', description: 'Local port, and which service port to take: <local>[:<name or number>].', required: true }),
    address: Flags.string({ description: 'Host on this machine that receives the traffic.', default: '127.0.0.1' }),
    namespace: Flags.string({ char: 'n', description: 'Namespace of the workload (default: the connected one).' }),
    service: Flags.string({ description: 'The Service to intercept when several select the workload.' }),
    name: Flags.string({ description: 'Name of the intercept (default: the workload\'s).' }),
    'http-header': Flags.string({ description: 'Personal intercept: only requests with this header (NAME=VALUE; several are ANDed).', multiple: true }),
    'http-path-prefix': Flags.string({ description: 'Personal intercept: only requests whose path starts with this.' }),
    'keep-failed-injection': Flags.boolean({ description: 'When the cluster refuses the pods with the traffic-agent, leave the agent in the workload to inspect with kubectl (default: tp puts the workload back).' }),
    // Node 20 reads a script argument named --env-file as its own option and exits when the file
    // does not exist yet (nodejs/node#54232), so --env-out is the same flag under a safe name.
    'env-file': Flags.string({ description: 'Write the pod\'s environment to this file (with Node 20, use --env-out for a file that does not exist yet).', aliases: ['env-out'] }),
    'env-syntax': Flags.option({ description: 'Syntax of --env-file.', options: ENV_SYNTAXES, default: 'docker' as EnvSyntax })(),
    'env-json': Flags.string({ description: 'Write the pod\'s environment to this file as JSON.' }),
    ...mountFlags,
    ...netnsFlags,
    use: Flags.string({ description: 'Which connection, by name or pattern (* and ?), where there are several.' }),
    'docker-run': Flags.boolean({ description: 'With a Docker-mode connection: `-- <image> [args]` runs as a container in the daemon\'s network with the pod\'s environment; the intercept ends with it.' }),
  };

  async run(): Promise<InterceptResult> {
    const result = await super.run();
    if (result.exitCode !== undefined) process.exitCode = result.exitCode;
    return result;
  }

  async execute(): Promise<InterceptResult> {
    const { tpArgv, command } = splitAtDashes(this.argv);
    const { args, flags } = await this.parse(Intercept, withMountValue(tpArgv));
    const { laptopPort, servicePort } = parsePortFlag(flags.port);
    const text = this.outputFormat === 'text';
    const { paths, connection } = await daemonPathsFor(flags.use);
    if (connection?.kind === 'docker' && !flags['docker-run'] && command.length > 0) {
      // The daemon sends intercepted connections to its container's loopback, which a command on this machine does not share.
      throw new TpError('TP_ERR_INTERCEPT_BAD_SPEC', `Connection ${connection.name} runs in a container: the intercepted traffic arrives in its network, not on this machine.`, {
        hints: [`Run the handler there: tp intercept ${args.workload} --use ${connection.name} --port ${flags.port} --docker-run -- <image> [args]`, `Or start it yourself with docker run --network container:${connection.record.container} … and leave out the command after --.`],
      });
    }
    if (flags['docker-run']) {
      if (connection?.kind !== 'docker' || command.length === 0) {
        throw new TpError('TP_ERR_CONNECTION_UNKNOWN', '--docker-run needs a Docker-mode connection and an image after --.', {
          hints: ['Connect with `tp connect --docker` (and pick it with --use <name> where there are several), then: tp intercept <workload> --port <port> --docker-run -- <image> [args]'],
        });
      }
    }
    const common = {
      connect: daemonConfigFrom(flags),
      spec: {
        workload: args.workload,
        namespace: flags.namespace,
        name: flags.name,
        service: flags.service,
        servicePort,
        laptopAddress: flags.address,
        laptopPort,
        headers: parseHeaders(flags['http-header'] ?? []),
        pathPrefix: flags['http-path-prefix'],
        ...(flags['keep-failed-injection'] && { keepFailedInjection: true }),
      },
      envFile: flags['env-file'] ? { path: flags['env-file'], syntax: flags['env-syntax'] } : undefined,
      envJson: flags['env-json'],
      mount: parseMountFlags(flags),
      onProgress: (message: string) => text && this.logToStderr(`  ${message}`),
      warn: (message: string) => this.logToStderr(`tp: ${message}`),
    };
    if (flags['docker-run'] && connection?.kind === 'docker') return interceptDockerRun({ ...common, record: connection.record, dir: connection.dir, image: command[0], args: command.slice(1) });
    return intercept({
      ...common,
      paths,
      command: command.length ? { command: command[0], args: command.slice(1), layers: { envOnly: false, preload: true, nodeShim: true }, netns: netnsMode(flags) } : undefined,
    });
  }

  render(result: InterceptResult): string {
    const i = result.intercept;
    if (result.exitCode !== undefined) return '';
    return [
      `Intercept:    ${i.name} (${i.id})`,
      `State:        ${i.state}${i.message ? ` (${i.message})` : ''}`,
      `Workload:     ${i.workload}`,
      `Destination:  ${i.destination}`,
      `Intercepting: ${i.intercepting}`,
      ...(result.environment.TP_ROOT ? [`Files:        ${result.environment.TP_ROOT} (TP_ROOT)`] : []),
      `Leave with:   tp leave ${i.name}`,
    ].join('\n');
  }
}
