// The base of every tp command: the shared `--output text|json` flag, and one place that turns a
// command's typed result or error into what the user sees. Commands implement `execute()` and
// `render()`; they never print JSON themselves.
import { Command, Flags } from '@oclif/core';
import { TpError } from '../errors.js';

export type OutputFormat = 'text' | 'json';

export abstract class TpCommand<Result> extends Command {
  static baseFlags = {
    output: Flags.option({
      char: 'o',
      description: 'How to print the result.',
      options: ['text', 'json'] as const,
      default: 'text' as const,
      helpGroup: 'GLOBAL',
    })(),
  };

  protected outputFormat: OutputFormat = 'text';

  /** Does the work and returns what happened; no printing here. */
  abstract execute(): Promise<Result>;

  /** Human-readable lines for a result (only used with `--output text`). */
  abstract render(result: Result): string;

  async run(): Promise<Result> {
    this.outputFormat = outputFormatFrom(this.argv);
    const result = await this.execute();
    if (this.outputFormat === 'json') this.log(JSON.stringify(result, null, 2));
    else this.log(this.render(result));
    return result;
  }

  protected async catch(err: Error & { exitCode?: number; oclif?: { exit?: number } }): Promise<unknown> {
    if (this.outputFormat === 'json' || outputFormatFrom(this.argv) === 'json') {
      const body = (err instanceof TpError ? err : new TpError('TP_ERR_UNEXPECTED', err.message)).toJSON();
      process.stdout.write(JSON.stringify({ error: body }, null, 2) + '\n');
      this.exit(err.oclif?.exit ?? 1);
    }
    if (err instanceof TpError) {
      const hints = err.hints.length > 0 ? '\nTry this:\n' + err.hints.map((h) => `  ${h}`).join('\n') : '';
      this.logToStderr(`Error: ${err.message} (${err.code})${hints}`);
      this.exit(1);
    }
    return super.catch(err);
  }
}

/** Reads `--output`/`-o` straight from argv so errors raised during flag parsing honour it too. */
function outputFormatFrom(argv: string[]): OutputFormat {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--output' || arg === '-o') return argv[i + 1] === 'json' ? 'json' : 'text';
    if (arg === '--output=json' || arg === '-ojson') return 'json';
  }
  return 'text';
}
