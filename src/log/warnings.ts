// Warnings meant for the user of a command (not the log): kept for the command's result (its
// `--output json` has them) and shown as they come.

export interface Warnings {
  /** Every warning so far, in order. */
  warnings: string[];
  warn(message: string): void;
}

/** `show` sees each warning as it is given (e.g. the CLI's stderr); none shows nothing. */
export function collectWarnings(show?: (message: string) => void): Warnings {
  const warnings: string[] = [];
  return {
    warnings,
    warn: (message) => {
      warnings.push(message);
      show?.(message);
    },
  };
}
