// Finds the program `tp run` is about to start and tells whether the LD_PRELOAD library can see
// it: a dynamically linked ELF has a PT_INTERP program header (the dynamic loader, which honours
// LD_PRELOAD); a static one (busybox-static, many Go binaries) has none, so only the proxy
// environment reaches it. Scripts are judged by their interpreter (`#!/usr/bin/env python3`
// follows env to python3). Reads headers only; leaves out setuid programs (the loader drops
// LD_PRELOAD for them) and 32-bit big-endian quirks beyond reading the fields.
import { accessSync, closeSync, constants, openSync, readSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

export type Linking = 'dynamic' | 'static' | 'unknown';

export interface ExecutableInfo {
  /** The file that will run (after PATH lookup), undefined when not found. */
  path?: string;
  linking: Linking;
  /** For scripts: the interpreter that decided `linking`. */
  interpreter?: string;
}

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);
const ELF_CLASS_64 = 2;
const ELF_DATA_LITTLE = 1;
const PT_INTERP = 3;
const HEADER_BYTES = 64;
/** More program headers than this is not an ELF file we want to trust. */
const MAX_PROGRAM_HEADERS = 256;
const SHEBANG_BYTES = 256;
const MAX_SCRIPT_DEPTH = 4;

/** The absolute path `cmd` runs as, searching PATH like execvp; undefined when not found. */
export function findExecutable(cmd: string, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string | undefined {
  if (cmd.includes('/')) return isExecutable(resolve(cwd, cmd)) ? resolve(cwd, cmd) : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir || !isAbsolute(dir)) continue;
    const candidate = join(dir, cmd);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function inspectExecutable(cmd: string, env: NodeJS.ProcessEnv = process.env, depth = 0): ExecutableInfo {
  const path = findExecutable(cmd, env);
  if (!path) return { linking: 'unknown' };
  let head: Buffer;
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    head = Buffer.alloc(HEADER_BYTES);
    const got = readSync(fd, head, 0, HEADER_BYTES, 0);
    head = head.subarray(0, got);
    if (head.subarray(0, 2).toString('latin1') === '#!') {
      const interpreter = shebangInterpreter(fd);
      if (!interpreter || depth >= MAX_SCRIPT_DEPTH) return { path, linking: 'unknown' };
      const inner = inspectExecutable(interpreter, env, depth + 1);
      return { path, linking: inner.linking, interpreter: inner.path ?? interpreter };
    }
    if (head.length < HEADER_BYTES || !head.subarray(0, 4).equals(ELF_MAGIC)) return { path, linking: 'unknown' };
    return { path, linking: hasInterpreter(fd, head) ? 'dynamic' : 'static' };
  } catch {
    return { path, linking: 'unknown' };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function shebangInterpreter(fd: number): string | undefined {
  const line = Buffer.alloc(SHEBANG_BYTES);
  const got = readSync(fd, line, 0, SHEBANG_BYTES, 0);
  const text = line.subarray(2, got).toString('latin1').split('\n')[0].trim();
  const [interpreter, ...args] = text.split(/\s+/);
  if (!interpreter) return undefined;
  // `#!/usr/bin/env prog` runs prog from PATH; env's own linking says nothing.
  if (interpreter.endsWith('/env')) return args.find((arg) => !arg.startsWith('-') && !arg.includes('=')) ?? undefined;
  return interpreter;
}

function hasInterpreter(fd: number, header: Buffer): boolean {
  const is64 = header[4] === ELF_CLASS_64;
  const little = header[5] === ELF_DATA_LITTLE;
  const u16 = (b: Buffer, at: number) => (little ? b.readUInt16LE(at) : b.readUInt16BE(at));
  const u32 = (b: Buffer, at: number) => (little ? b.readUInt32LE(at) : b.readUInt32BE(at));
  const phoff = is64 ? Number(little ? header.readBigUInt64LE(32) : header.readBigUInt64BE(32)) : u32(header, 28);
  const phentsize = u16(header, is64 ? 54 : 42);
  const phnum = u16(header, is64 ? 56 : 44);
  if (phnum > MAX_PROGRAM_HEADERS || phentsize < (is64 ? 56 : 32)) return false;
  const table = Buffer.alloc(phentsize * phnum);
  readSync(fd, table, 0, table.length, phoff);
  for (let i = 0; i < phnum; i++) {
    if (u32(table, i * phentsize) === PT_INTERP) return true;
  }
  return false;
}
