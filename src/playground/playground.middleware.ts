import type { NextFunction, Request, Response } from 'express';
import type { Asset } from './playground-assets.js';

/**
 * Stricter than the service's CSP (which Swagger UI's inline styles need): the page's own scripts
 * and styles only, requests to this origin only, and Trusted Types, so that HTML reaches the DOM
 * only through DOMPurify's policy — an answer's markup can never run.
 */
export const PLAYGROUND_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "require-trusted-types-for 'script'",
  'trusted-types dompurify',
].join('; ');

/**
 * Serves the page and its files before any guard runs: they hold no data (every call the page
 * makes is an API request with its own key and budget). Anything else goes on to the routes.
 */
export function servePlayground(assets: Map<string, Asset>) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const asset = req.method === 'GET' || req.method === 'HEAD' ? assets.get(req.path) : undefined;
    if (!asset) return next();
    res.setHeader('Content-Security-Policy', PLAYGROUND_CSP);
    res.setHeader('Content-Type', asset.type);
    // Revalidated on every load, so a new version of the service is never mixed with old scripts.
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('ETag', asset.etag);
    if (req.headers['if-none-match'] === asset.etag) {
      res.status(304).end();
      return;
    }
    res.setHeader('Content-Length', asset.body.length);
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
}
