import ConfigView from './view.js';

/** `tp config` alone is `tp config view`. */
export default class Config extends ConfigView {
  static summary = 'Print the effective configuration (the same as `tp config view`).';
  static examples = ['<%= config.bin %> config', '<%= config.bin %> config --output json'];
}
