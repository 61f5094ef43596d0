import { Command } from '@oclif/core';
import { fishCompletion, type CompletableCommand } from '../../cli/fish-completion.js';

export default class AutocompleteFish extends Command {
  static summary = 'Print the fish completion script (bash, zsh and powershell: tp autocomplete <shell>).';
  static examples = ['<%= config.bin %> autocomplete fish > ~/.config/fish/completions/tp.fish'];

  async run(): Promise<void> {
    await this.parse(AutocompleteFish);
    this.log(fishCompletion(this.config.commands as unknown as CompletableCommand[]).trimEnd());
  }
}
