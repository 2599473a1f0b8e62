import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { TransactionHost } from './transaction-host.js';

/**
 * Opens a Unit of Work when the route's Observable is subscribed, not when the handler returns,
 * and runs the subscription inside it; ends it when the Observable completes, errors or is
 * unsubscribed (the client left). For a streaming route this spans the whole stream.
 */
@Injectable()
export class UnitOfWorkInterceptor implements NestInterceptor {
  constructor(private readonly host: TransactionHost) {}

  intercept(ctx: ExecutionContext, next: CallHandler): Observable<unknown> {
    const name = `${ctx.getClass().name}.${ctx.getHandler().name}`;
    return new Observable((subscriber) => {
      const uow = this.host.open(name);
      let ended = false;
      const end = (outcome: 'completed' | 'error' | 'unsubscribed') => {
        ended = true;
        return uow.end(outcome);
      };
      const subscription = this.host.within(uow, () =>
        next.handle().subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => void end('error').finally(() => subscriber.error(error)),
          complete: () => void end('completed').finally(() => subscriber.complete()),
        }),
      );
      return () => {
        subscription.unsubscribe();
        if (!ended) void end('unsubscribed');
      };
    });
  }
}
