import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Writes `markdown` under `heading` between the markers `<!-- bench:NAME:start/end -->` in the
 * report at `path`; the first time, as a section titled `title` at the end. The rest stays as it is.
 */
export function writeReportSection(path: string, name: string, title: string, heading: string, markdown: string): void {
  const startMarker = `<!-- bench:${name}:start -->`;
  const endMarker = `<!-- bench:${name}:end -->`;
  const current = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const generated = `${startMarker}\n\n${heading}\n\n${markdown}\n\n${endMarker}`;
  const start = current.indexOf(startMarker);
  const end = current.indexOf(endMarker);
  const next =
    start !== -1 && end > start
      ? current.slice(0, start) + generated + current.slice(end + endMarker.length)
      : `${current.trimEnd()}\n\n## ${title}\n\n${generated}\n`;
  writeFileSync(path, next);
}
