import { posix } from 'node:path';

export type WorkspacePath = { ok: true; path: string; absolute: boolean } | { ok: false; reason: string };

/**
 * Normalises a path an agent gave for the client's workspace: backslashes become slashes,
 * `.`/`..` segments are resolved and a leading `./` is dropped, so `docs/../docs/a.md` and
 * `.\docs\a.md` both become `docs/a.md`. A relative path that climbs out of the workspace is
 * refused. Absolute paths (`/x`, `C:\x`, `~/x`) are returned as such: the runtime does not know
 * where the client's workspace lives, so only the caller can decide whether to accept one.
 */
export function normalizeWorkspacePath(raw: string): WorkspacePath {
  if (raw.includes('\0')) return { ok: false, reason: 'the path contains a NUL character' };
  const slashed = raw.trim().replace(/\\/g, '/');
  if (slashed === '') return { ok: false, reason: 'the path is empty' };
  const absolute = slashed.startsWith('/') || slashed.startsWith('~') || /^[A-Za-z]:/.test(slashed);
  let path = posix.normalize(slashed);
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  if (absolute) return { ok: true, path, absolute };
  if (path === '..' || path.startsWith('../')) {
    return { ok: false, reason: `the path "${raw}" leads outside the workspace` };
  }
  return { ok: true, path: path.startsWith('./') ? path.slice(2) : path, absolute: false };
}
