// The fish completion script for tp, made from oclif's command list: commands and topics at the
// first word, a topic's commands after it, and each command's flags (with their short names and
// whether they take a value) once the command is typed. oclif's autocomplete plugin covers bash,
// zsh and powershell; `tp autocomplete fish` (commands/autocomplete/fish.ts) prints this.

export interface CompletableCommand {
  /** oclif id, topics separated by ':' ("manager:install"). */
  id: string;
  summary?: string;
  hidden?: boolean;
  flags: Record<string, { char?: string; summary?: string; description?: string; type: 'boolean' | 'option'; hidden?: boolean }>;
}

/** fish's single-quoted string: backslash and quote escaped, one line. */
function quote(text: string): string {
  return `'${text.replace(/[\r\n]+/g, ' ').replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function fishCompletion(commands: readonly CompletableCommand[]): string {
  const visible = commands.filter((command) => !command.hidden).sort((a, b) => a.id.localeCompare(b.id));
  const words = visible.map((command) => command.id.split(':'));
  const topics = [...new Set(words.filter((w) => w.length > 1).map((w) => w[0]))];
  const firstWords = [...new Set(words.map((w) => w[0]))];
  const lines = [
    '# tp completions for fish: tp autocomplete fish > ~/.config/fish/completions/tp.fish',
    'complete -c tp -f',
  ];
  // First word: a command or a topic, while none is typed yet.
  for (const word of firstWords) {
    const command = visible.find((c) => c.id === word);
    const summary = command?.summary ?? `${word} commands`;
    lines.push(`complete -c tp -n ${quote(`not __fish_seen_subcommand_from ${firstWords.join(' ')}`)} -a ${quote(word)} -d ${quote(summary)}`);
  }
  // A topic's commands after it.
  for (const topic of topics) {
    const subs = visible.filter((c) => c.id.startsWith(`${topic}:`) && c.id.split(':').length === 2);
    const names = subs.map((c) => c.id.split(':')[1]);
    for (const sub of subs) {
      const condition = `__fish_seen_subcommand_from ${topic}; and not __fish_seen_subcommand_from ${names.join(' ')}`;
      lines.push(`complete -c tp -n ${quote(condition)} -a ${quote(sub.id.split(':')[1])} -d ${quote(sub.summary ?? '')}`);
    }
  }
  // Flags once the command's words are typed.
  for (const command of visible) {
    const condition = command.id
      .split(':')
      .map((word) => `__fish_seen_subcommand_from ${word}`)
      .join('; and ');
    for (const [name, flag] of Object.entries(command.flags)) {
      if (flag.hidden) continue;
      const short = flag.char ? ` -s ${flag.char}` : '';
      const value = flag.type === 'option' ? ' -r' : '';
      lines.push(`complete -c tp -n ${quote(condition)} -l ${name}${short}${value} -d ${quote(flag.summary ?? flag.description ?? '')}`);
    }
  }
  return lines.join('\n') + '\n';
}
