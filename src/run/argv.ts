// Splits `tp run`'s argv into tp's own flags and the command: everything from `--`, or from the
// first word that is not a tp flag, belongs to the command, so `tp run curl -s url` and
// `tp run -n team -- curl -s url` both work and the command's own flags never reach oclif.

/** The spellings (--name, -c) of the flags that take a value, from oclif flag definitions. */
export function valueFlagNames(flags: Record<string, { type: string; char?: string }>): Set<string> {
  const names = Object.entries(flags).filter(([, flag]) => flag.type === 'option');
  return new Set(names.flatMap(([name, flag]) => [`--${name}`, ...(flag.char ? [`-${flag.char}`] : [])]));
}

/** `valueFlags`: tp run's flags that take a value as the next word (when not written --flag=value). */
export function splitRunArgv(argv: readonly string[], valueFlags: ReadonlySet<string>): { tpArgv: string[]; command: string[] } {
  const tpArgv: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') return { tpArgv, command: argv.slice(i + 1) };
    if (!word.startsWith('-') || word === '-') return { tpArgv, command: argv.slice(i) };
    tpArgv.push(word);
    if (valueFlags.has(word) && i + 1 < argv.length) tpArgv.push(argv[++i]);
  }
  return { tpArgv, command: [] };
}
