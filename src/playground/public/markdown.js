import DOMPurify from '/playground/vendor/dompurify/purify.es.mjs';
import { Marked } from '/playground/vendor/marked/marked.esm.js';

const escapeHtml = (text) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

// Raw HTML in an answer is shown as the text it is: an agent quoting markup must not produce markup.
const markdown = new Marked({ gfm: true, renderer: { html: ({ text }) => escapeHtml(text) } });

// Links open apart from the playground and tell the target nothing about it.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A' && node.hasAttribute('href')) {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer');
  }
});

/**
 * Shows Markdown in `target`, sanitized by DOMPurify (no scripts, no event handlers, no
 * `javascript:` URLs). The page's CSP requires Trusted Types, so this is the one way HTML gets in.
 */
export function showMarkdown(target, text) {
  target.innerHTML = DOMPurify.sanitize(markdown.parse(text), { RETURN_TRUSTED_TYPE: true });
}
