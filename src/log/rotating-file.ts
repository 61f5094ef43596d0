// A log file that rotates by size: when the next line would take it past the bound, the file
// becomes `<name>.1`, the previous `.1` becomes `.2`, and so on; the oldest falls off. The daemon
// writes its log through one of these (the launcher only points its stderr at the same file for
// what Node itself prints), so a long-running daemon keeps a bounded, recent history.
// Writes are synchronous: lines stay in order, and the last line before a crash is on disk.
import { closeSync, fstatSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';

/**
 * ~10 MB per file: months of info lines, or about 20,000 proxied connections at debug (~550 bytes
 * each); small enough to open in an editor or attach to an issue.
 */
export const LOG_FILE_MAX_BYTES = 10 * 1024 * 1024;
/** Rotated files kept beside the current one (`.1` newest to `.3` oldest): at most ~40 MB in all. */
export const LOG_FILES_KEPT = 3;
const FILE_MODE = 0o600;

export interface RotationLimits {
  maxBytes: number;
  /** Rotated files kept, at least 1. */
  keep: number;
}

const DEFAULT_LIMITS: RotationLimits = { maxBytes: LOG_FILE_MAX_BYTES, keep: LOG_FILES_KEPT };

export class RotatingFile {
  private fd = -1;
  private size = 0;

  constructor(
    readonly path: string,
    private readonly limits: RotationLimits = DEFAULT_LIMITS,
  ) {
    this.open();
  }

  /** Appends `text`, rotating first if it would not fit. Throws what the file system throws. */
  write(text: string): void {
    const bytes = Buffer.from(text);
    if (this.fd < 0) this.open();
    if (this.size > 0 && this.size + bytes.length > this.limits.maxBytes) this.rotate();
    writeSync(this.fd, bytes);
    this.size += bytes.length;
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }

  private open(): void {
    this.fd = openSync(this.path, 'a', FILE_MODE);
    this.size = fstatSync(this.fd).size;
  }

  private rotate(): void {
    this.close();
    shiftFiles(this.path, this.limits.keep);
    this.open();
  }
}

/**
 * Rotates `path` now if it is already at the bound, so a writer that opens it next starts a fresh
 * file. The launcher calls this before it opens the daemon's stderr, which must be the file the
 * daemon then logs to.
 */
export function rotateIfFull(path: string, limits: RotationLimits = DEFAULT_LIMITS): void {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    return;
  }
  if (size >= limits.maxBytes) shiftFiles(path, limits.keep);
}

/** `path.(keep-1)` → `path.keep`, …, `path` → `path.1`; what was `path.keep` is gone. */
function shiftFiles(path: string, keep: number): void {
  rmSync(`${path}.${keep}`, { force: true });
  for (let i = keep - 1; i >= 1; i--) renameIfThere(`${path}.${i}`, `${path}.${i + 1}`);
  renameIfThere(path, `${path}.1`);
}

function renameIfThere(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
