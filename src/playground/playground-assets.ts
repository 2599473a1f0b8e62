import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One file the playground serves, read once at start. */
export interface Asset {
  type: string;
  body: Buffer;
  etag: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * The page's own files. tsc copies no static files, so they are read from the sources, which sit
 * next to `dist/` (the Docker image copies this folder too).
 */
const PAGE_DIR = fileURLToPath(new URL('../../../src/playground/public/', import.meta.url));

/** Browser builds of the npm packages the page imports, served from node_modules under their own file names (their source maps then resolve). */
const VENDOR_PACKAGES = ['marked', 'dompurify', 'eventsource-parser'];

function asset(file: string): Asset {
  const body = readFileSync(file);
  return {
    type: TYPES[extname(file)] ?? 'application/octet-stream',
    body,
    etag: `"${createHash('sha256').update(body).digest('base64url')}"`,
  };
}

/** URL path → file: `/` is the page, `/playground/…` its scripts and styles, `/playground/vendor/<package>/…` the libraries. */
export function playgroundAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(PAGE_DIR)) {
    assets.set(name === 'index.html' ? '/' : `/playground/${name}`, asset(join(PAGE_DIR, name)));
  }
  for (const pkg of VENDOR_PACKAGES) {
    // The `import` condition of the package's exports: its ES module build.
    const file = fileURLToPath(import.meta.resolve(pkg));
    assets.set(`/playground/vendor/${pkg}/${basename(file)}`, asset(file));
    if (existsSync(`${file}.map`)) assets.set(`/playground/vendor/${pkg}/${basename(file)}.map`, asset(`${file}.map`));
  }
  return assets;
}
