// Splits `tp run`'s argv into tp's own flags and the command: everything from `--`, or from the
// first word that is not a tp flag, belongs to the command, so `tp run curl -s url` and
// `tp run -n team -- curl -s url` both work and the command's own flags never reach oclif.

/** tp run's flags that take a value as the next word (when not written --flag=value). */
const VALUE_FLAGS = new Set(['--kubeconfig', '--context', '-n', '--namespace', '--manager-namespace', '--manager-url', '--also-proxy', '--never-proxy', '-o', '--output']);

export function splitRunArgv(argv: readonly string[]): { tpArgv: string[]; command: string[] } {
  const tpArgv: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i];
    if (word === '--') return { tpArgv, command: argv.slice(i + 1) };
    if (!word.startsWith('-') || word === '-') return { tpArgv, command: argv.slice(i) };
    tpArgv.push(word);
    if (VALUE_FLAGS.has(word) && i + 1 < argv.length) tpArgv.push(argv[++i]);
  }
  return { tpArgv, command: [] };
}
