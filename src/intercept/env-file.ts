// The intercepted pod's environment written for local tools: `docker` syntax (KEY=VALUE per
// line, no quoting, as `docker run --env-file` reads it: values with a line break cannot be
// written and are left out, and said so), `sh` syntax (`export KEY='value'`, single-quoted so
// nothing in a value is expanded; names that are not shell identifiers are left out) and `json`
// (one object). Pure: the caller writes the file. Used by src/intercept/intercept.ts.

export type EnvSyntax = 'docker' | 'sh' | 'json';
export const ENV_SYNTAXES: EnvSyntax[] = ['docker', 'sh', 'json'];

const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface FormattedEnv {
  text: string;
  /** Variables that this syntax cannot carry, with why. */
  skipped: string[];
}

export function formatEnv(env: Record<string, string>, syntax: EnvSyntax): FormattedEnv {
  const names = Object.keys(env).sort();
  const skipped: string[] = [];
  if (syntax === 'json') return { text: JSON.stringify(Object.fromEntries(names.map((n) => [n, env[n]])), null, 2) + '\n', skipped };
  const lines: string[] = [];
  for (const name of names) {
    const value = env[name];
    if (syntax === 'docker') {
      if (/[\r\n]/.test(value) || name.includes('=') || /^\s|#/.test(name)) {
        skipped.push(`${name} (a docker env file cannot hold ${/[\r\n]/.test(value) ? 'a line break' : 'this name'})`);
        continue;
      }
      lines.push(`${name}=${value}`);
    } else {
      if (!SHELL_NAME.test(name)) {
        skipped.push(`${name} (not a shell variable name)`);
        continue;
      }
      lines.push(`export ${name}=${shellQuote(value)}`);
    }
  }
  return { text: lines.map((l) => l + '\n').join(''), skipped };
}

/** 'value' with each ' written as '\'' — the one quoting sh expands nothing inside. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}
