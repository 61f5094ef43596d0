// tp's error type: a stable code users and scripts match on, a message, a cause, and hints that
// tell the user what to do next. The CLI prints hints as "Try this:"; `--output json` carries the
// code. Every area of tp throws TpError (or a subclass) for failures a user can meet.

/** Who has to act: the user (bad input), their config/environment, or us (a bug, see the logs). */
export type ErrorCategory = 'user' | 'config' | 'internal';

export interface TpErrorOptions {
  cause?: unknown;
  hints?: string[];
  category?: ErrorCategory;
}

export class TpError extends Error {
  readonly code: string;
  readonly hints: string[];
  readonly category: ErrorCategory;

  constructor(code: string, message: string, options: TpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TpError';
    this.code = code;
    this.hints = options.hints ?? [];
    this.category = options.category ?? 'user';
  }

  toJSON(): { code: string; message: string; hints: string[]; category: ErrorCategory } {
    return { code: this.code, message: this.message, hints: this.hints, category: this.category };
  }
}
