import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { AuthenticatedRequest } from './api-key.guard.js';

/**
 * The owner every session, message, turn and approval of a request belongs to, as `ApiKeyGuard`
 * set it (`local` when the service runs open). A route reached without it is a wiring bug, and
 * fails loudly rather than acting for some default owner.
 */
export const Owner = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => {
  const owner = ctx.switchToHttp().getRequest<AuthenticatedRequest>().owner;
  if (!owner) throw new Error('request has no owner: ApiKeyGuard did not run before this route');
  return owner;
});
