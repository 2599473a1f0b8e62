/**
 * Builds an element: `attributes` become attributes (`hidden: true`, `disabled: false`…), children
 * become text nodes or are appended as they are. Text is never parsed as HTML.
 */
export function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === undefined || value === null) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  node.append(...children.filter((child) => child !== undefined && child !== null && child !== false));
  return node;
}

/** `2 min ago`, `yesterday`…: how long ago an ISO time was, in words. */
export function ago(iso, now = Date.now()) {
  const seconds = Math.round((new Date(iso).getTime() - now) / 1000);
  const words = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
  for (const [unit, size] of [
    ['day', 86_400],
    ['hour', 3_600],
    ['minute', 60],
  ]) {
    if (Math.abs(seconds) >= size) return words.format(Math.round(seconds / size), unit);
  }
  return words.format(seconds, 'second');
}

/** Pretty JSON for arguments and results. */
export function json(value) {
  return JSON.stringify(value, null, 2);
}
