import { createParamDecorator, ExecutionContext } from '@nestjs/common';

/** The owner every session, message, turn and approval of a request belongs to. */
export const Owner = createParamDecorator((_data: unknown, ctx: ExecutionContext): string => {
  const request = ctx.switchToHttp().getRequest<{ owner?: string }>();
  return request.owner ?? 'local';
});
