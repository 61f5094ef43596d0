#!/usr/bin/env node
// The tp command: hands argv to oclif, which loads the compiled commands from dist/commands.
// When started through bin/tp, the arguments arrive in TP_ARGC/TP_ARG_<i> (bin/tp says why).
import { execute } from '@oclif/core';

let args = process.argv.slice(2);
if (process.env.TP_ARGC !== undefined) {
  const count = Number(process.env.TP_ARGC);
  args = Array.from({ length: count }, (_, i) => process.env[`TP_ARG_${i}`] ?? '');
  for (let i = 0; i < count; i++) delete process.env[`TP_ARG_${i}`];
  delete process.env.TP_ARGC;
}

await execute({ args, dir: import.meta.url });
