#!/usr/bin/env node
// The tp command: hands argv to oclif, which loads the compiled commands from dist/commands.
// When started through bin/tp, the arguments arrive in TP_ARGC/TP_ARG_<i> (bin/tp says why).
import { userInfo } from 'node:os';
import { execute } from '@oclif/core';

// oclif asks the passwd database for the login shell when $SHELL is unset. A container running as
// a uid with no passwd entry (a pod's runAsUser, OpenShift's random uids) has neither: say sh.
if (process.env.SHELL === undefined) {
  try {
    userInfo();
  } catch {
    process.env.SHELL = '/bin/sh';
  }
}

let args = process.argv.slice(2);
if (process.env.TP_ARGC !== undefined) {
  const count = Number(process.env.TP_ARGC);
  args = Array.from({ length: count }, (_, i) => process.env[`TP_ARG_${i}`] ?? '');
  for (let i = 0; i < count; i++) delete process.env[`TP_ARG_${i}`];
  delete process.env.TP_ARGC;
}

await execute({ args, dir: import.meta.url });
