import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { PrometheusController } from '@willsoto/nestjs-prometheus';
import type { NextFunction, Request, Response } from 'express';
import { DomainError } from '../common/domain-error.js';
import { Settings } from '../config/settings.js';
import { errorResponse } from '../errors/error-response.js';
import { HealthController } from '../observability/health.controller.js';
import { ApiKeys, Caller, LOCAL_OWNER } from './api-keys.js';

/** What the guard learns about a request: the owner every route acts for, and the key used. */
export interface AuthenticatedRequest extends Request {
  owner?: string;
  caller?: Caller;
}

/** 401 with a challenge; the message says what was wrong, never which keys exist. */
function unauthorized(req: Request, res: Response): DomainError {
  res.setHeader('WWW-Authenticate', 'Bearer');
  const message = req.headers.authorization ? 'the API key is not valid' : 'send an API key as "Authorization: Bearer <key>"';
  return new DomainError('unauthorized', message);
}

/**
 * Every route needs `Authorization: Bearer <key>` unless it is known to be public: `/health/*`
 * always, `/metrics` while METRICS_PUBLIC is true. A route added later is therefore closed by
 * default. Without API_KEYS the service is open and every request acts as owner `local`.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  constructor(
    private readonly keys: ApiKeys,
    private readonly settings: Settings,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http') return true;
    const http = context.switchToHttp();
    const req = http.getRequest<AuthenticatedRequest>();
    if (this.keys.open) {
      req.owner = LOCAL_OWNER;
      return true;
    }
    const caller = this.keys.authenticate(req.headers.authorization);
    if (caller) {
      req.owner = caller.owner;
      req.caller = caller;
      return true;
    }
    if (this.isPublic(context)) return true;
    throw unauthorized(req, http.getResponse<Response>());
  }

  private isPublic(context: ExecutionContext): boolean {
    const controller = context.getClass();
    return controller === HealthController || (controller === PrometheusController && this.settings.METRICS_PUBLIC);
  }
}

/**
 * The same check for routes served outside Nest's controllers (Swagger UI and the OpenAPI
 * document when DOCS_PUBLIC is false): 401 JSON without a valid key.
 */
export function requireApiKey(keys: ApiKeys) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (keys.open || keys.authenticate(req.headers.authorization)) return next();
    res.status(401).json(errorResponse(401, 'unauthorized', unauthorized(req, res).message));
  };
}
