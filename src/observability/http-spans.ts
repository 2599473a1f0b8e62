import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

const tracer = trace.getTracer('agent-runtime/http');

/** Polled by machines many times a minute: a trace each would drown the turns (their numbers are in /metrics). */
const UNTRACED = /^\/(health|metrics)(\/|\?|$)/;

/**
 * The server span of each request (HTTP semantic conventions: method, route template, status),
 * active for everything the request does, a turn's stream included. Installed first, before the
 * body is read; a `traceparent` header continues the caller's trace. Only paths and route
 * templates are recorded, never a query string, a header or a body.
 */
export function httpServerSpans(): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (UNTRACED.test(req.originalUrl)) return next();
    const parent = propagation.extract(context.active(), req.headers);
    const span = tracer.startSpan(
      req.method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          [ATTR_HTTP_REQUEST_METHOD]: req.method,
          [ATTR_URL_PATH]: req.originalUrl.split('?')[0],
          [ATTR_URL_SCHEME]: req.protocol,
        },
      },
      parent,
    );
    res.once('close', () => {
      const route: unknown = req.route?.path;
      if (typeof route === 'string') {
        span.setAttribute(ATTR_HTTP_ROUTE, route);
        span.updateName(`${req.method} ${route}`);
      }
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, res.statusCode);
      // A 4xx is the client's error, not the server's (the conventions for server spans).
      if (res.statusCode >= 500) {
        span.setAttribute(ATTR_ERROR_TYPE, String(res.statusCode));
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.end();
    });
    // Everything after runs in this context: the body parser (raw-body) binds its callback to it,
    // though the body arrives in the socket's callbacks, and AsyncLocalStorage carries it into the turn.
    context.with(trace.setSpan(parent, span), next);
  };
}
