import { Injectable, NestMiddleware } from '@nestjs/common';
import { InjectMetric, makeHistogramProvider } from '@willsoto/nestjs-prometheus';
import type { NextFunction, Request, Response } from 'express';
import type { Histogram } from 'prom-client';

export const httpRequestDuration = makeHistogramProvider({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration by method, route template and status (SSE routes: the whole stream)',
  labelNames: ['method', 'route', 'status'],
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
});

/** Times every request under its route template (`/v1/sessions/:id`), never its raw URL. */
@Injectable()
export class HttpMetricsMiddleware implements NestMiddleware {
  constructor(@InjectMetric('http_request_duration_seconds') private readonly duration: Histogram<string>) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const end = this.duration.startTimer();
    res.once('close', () => {
      const route = typeof req.route?.path === 'string' ? req.route.path : 'unmatched';
      end({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  }
}
