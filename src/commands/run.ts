import { Flags } from '@oclif/core';
import { TpCommand } from '../cli/base-command.js';
import { connectionFlags, daemonConfigFrom, namespaceFlag } from '../cli/kube-flags.js';
import { TpError } from '../errors.js';
import { EXIT_NOT_FOUND, runInCluster, type RunResult } from '../run/run.js';
import { splitRunArgv, valueFlagNames } from '../run/argv.js';
import { parsePortMaps, type NetnsMode } from '../run/netns.js';
import { NETNS_ENV, NETNS_VALUES, userConfig } from '../cli/config-file.js';
import { dockerConnectionFor } from '../docker/select.js';

export default class Run extends TpCommand<RunResult> {
  static summary = 'Run a command that reaches the cluster: any program, unmodified, without root.';
  static description =
    'Connects first when no daemon runs (and disconnects afterwards unless --keep-connected). The command gets proxy settings, a Node preload and an LD_PRELOAD library, so cluster names and addresses work from curl, Python, Java, Node, databases clients and compiled programs alike. tp exits with the command\'s exit code.';
  static examples = [
    '<%= config.bin %> run -- curl http://hello.default/',
    '<%= config.bin %> run -- python3 app.py',
    '<%= config.bin %> run --keep-connected -- redis-cli -h redis.default ping',
    '<%= config.bin %> run --netns -- ./my-static-go-binary',
    '<%= config.bin %> run --netns --host-port 5432 --publish 8080 -- ./server',
    '<%= config.bin %> run --use alpha -- curl http://hello.alpha/',
  ];
  static strict = false;
  static flags = {
    ...connectionFlags,
    namespace: namespaceFlag('Namespace that single-label names resolve in (when tp run connects; default: the config file\'s, else the context\'s).'),
    'keep-connected': Flags.boolean({ description: 'Leave the daemon running after the command when tp run started it.' }),
    'env-only': Flags.boolean({ description: 'Only set proxy variables: no Node preload, no LD_PRELOAD library.' }),
    preload: Flags.boolean({ description: 'Load the LD_PRELOAD library (--no-preload to leave it out).', default: true, allowNo: true }),
    netns: Flags.boolean({
      description: `Run the command in a network namespace of its own where every TCP connection and DNS question goes through tp (static binaries, Go's resolver): Linux, no root; stops with the reason where the machine does not allow it. --no-netns overrides the config file's "netns:" (on, try or off; or $${NETNS_ENV}).`,
      exclusive: ['try-netns', 'env-only'],
      allowNo: true,
    }),
    'try-netns': Flags.boolean({ description: 'Like --netns where the machine allows it; otherwise says why and uses the proxy settings and preloads.', exclusive: ['netns', 'env-only'] }),
    'host-port': Flags.string({
      description: 'With --netns: the host\'s loopback port PORT is reached at 127.0.0.1:PORT inside (a local database); INSIDE:HOST maps it to another port inside. Repeatable.',
      multiple: true,
    }),
    publish: Flags.string({
      char: 'p',
      description: 'With --netns: a port the command listens on inside is served on the host\'s 127.0.0.1 (so it can take an intercept); HOST:INSIDE publishes it on another port of the host. Repeatable.',
      multiple: true,
    }),
    'node-shim': Flags.boolean({ description: 'Load the Node preload (--no-node-shim to leave it out).', default: true, allowNo: true }),
    use: Flags.string({ description: 'Which connection, by name or pattern (* and ?), where there are several (a Docker-mode one too).' }),
  };

  async run(): Promise<RunResult> {
    const result = await this.execute();
    if (this.outputFormat === 'json') process.stderr.write(JSON.stringify(result, null, 2) + '\n');
    process.exitCode = result.exitCode;
    return result;
  }

  async execute(): Promise<RunResult> {
    const { tpArgv, command } = splitRunArgv(this.argv, valueFlagNames({ ...Run.baseFlags, ...Run.flags }));
    const { flags } = await this.parse(Run, tpArgv);
    this.outputFormat = flags.output;
    if (command.length === 0) {
      throw new TpError('TP_ERR_RUN_NO_COMMAND', 'No command to run.', { hints: ['tp run -- curl http://<service>.<namespace>/'] });
    }
    const connection = await dockerConnectionFor(flags.use);
    // Docker mode's code (and the Kubernetes client it imports) loads only for a Docker-mode connection.
    const docker = connection && (await (await import('../docker/launch.js')).dockerRunTarget(connection.record, connection.dir));
    return runInCluster({
      paths: docker?.paths,
      connection: docker,
      command: command[0],
      args: command.slice(1),
      keepConnected: flags['keep-connected'],
      layers: { envOnly: flags['env-only'], preload: flags.preload, nodeShim: flags['node-shim'] },
      netns: netnsMode(flags.netns, flags['try-netns']),
      hostPorts: parsePortMaps('--host-port', flags['host-port']),
      publish: parsePortMaps('--publish', flags.publish),
      connect: daemonConfigFrom(flags, { namespace: flags.namespace }),
    });
  }

  render(): string {
    return '';
  }

  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (err instanceof TpError && err.code === 'TP_ERR_RUN_NOT_FOUND') {
      this.logToStderr(`Error: ${err.message} (${err.code})`);
      this.exit(EXIT_NOT_FOUND);
    }
    return super.catch(err);
  }
}

/** The flags first, then $TP_NETNS, then the config file's "netns:", then off. */
function netnsMode(netns: boolean | undefined, tryNetns: boolean): NetnsMode {
  if (netns !== undefined) return netns ? 'required' : 'off';
  if (tryNetns) return 'try';
  const setting = process.env[NETNS_ENV] || userConfig().netns;
  if (setting !== undefined && !(NETNS_VALUES as readonly string[]).includes(setting)) {
    throw new TpError('TP_ERR_RUN_BAD_NETNS', `$${NETNS_ENV} is "${setting.slice(0, 40)}"; it takes one of ${NETNS_VALUES.join(', ')}.`, { hints: [`Unset ${NETNS_ENV}, or set it to on, try or off.`] });
  }
  return setting === 'on' ? 'required' : setting === 'try' ? 'try' : 'off';
}
