import { Flags } from '@oclif/core';
import { TpCommand } from '../../cli/base-command.js';
import { CONFIG_ENV, CONFIG_KEYS, configFilePath, NETNS_VALUES, resolveConfig, userConfig, type ConfigValues, type EffectiveConfig } from '../../cli/config-file.js';
import { connectionFlags, namespaceFlag } from '../../cli/kube-flags.js';

export interface ConfigViewResult {
  file: string;
  settings: EffectiveConfig;
}

export default class ConfigView extends TpCommand<ConfigViewResult> {
  static summary = 'Print the effective configuration and where each value comes from (flag, env, file or default).';
  static description = 'Defaults for namespace, manager-namespace, also-proxy, never-proxy, log-level, image and netns (tp run\'s namespace: on, try or off) come from $XDG_CONFIG_HOME/tp/config.yaml (default ~/.config/tp/config.yaml), whose keys are the flags\' names; flags override the file. Give flags here to see what a command with them would use.';
  static examples = ['<%= config.bin %> config view', '<%= config.bin %> config view --output json', '<%= config.bin %> config view -n team-a'];
  static flags = {
    ...connectionFlags,
    namespace: namespaceFlag('Namespace, as connect, run and intercept take it.'),
    image: Flags.string({ description: 'Container image of the manager, as manager install takes it.' }),
    netns: Flags.string({ description: 'Whether tp run captures in a namespace: on, try or off.', options: [...NETNS_VALUES] }),
  };

  async execute(): Promise<ConfigViewResult> {
    const { flags, raw } = await this.parse(ConfigView);
    // Only what was typed counts as "flag": oclif fills in defaults (the file's) and environment values too.
    const typed = new Set(raw.flatMap((token) => (token.type === 'flag' ? [token.flag] : [])));
    const given: ConfigValues = {};
    for (const key of CONFIG_KEYS) if (typed.has(key)) Object.assign(given, { [key]: flags[key] });
    return { file: configFilePath(), settings: resolveConfig(given, process.env, userConfig()) };
  }

  render({ file, settings }: ConfigViewResult): string {
    const lines = [`Config file: ${file}`];
    for (const key of CONFIG_KEYS) {
      const { value, source } = settings[key];
      const shown = value === undefined ? NOT_SET[key] ?? '-' : Array.isArray(value) ? value.join(', ') || '(none)' : value;
      const from = source === 'env' ? `env ${CONFIG_ENV[key]}` : source;
      lines.push(`  ${(key + ':').padEnd(19)} ${shown}  (${from})`);
    }
    return lines.join('\n');
  }
}

const NOT_SET: Partial<Record<string, string>> = { namespace: '(the context\'s namespace)', image: '(this version\'s image)' };
