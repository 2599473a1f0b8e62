import { EntitySubscriberInterface, EventSubscriber, InsertEvent, RemoveEvent, SoftRemoveEvent, UpdateEvent } from 'typeorm';
import { NoUnitOfWorkError } from './transaction-errors.js';

/** Entity writes must run in a Unit of Work's micro-transaction; anything else fails loudly. */
@EventSubscriber()
export class WriteGuardSubscriber implements EntitySubscriberInterface {
  beforeInsert(event: InsertEvent<unknown>): void {
    this.check(event, 'insert');
  }

  beforeUpdate(event: UpdateEvent<unknown>): void {
    this.check(event, 'update');
  }

  beforeRemove(event: RemoveEvent<unknown>): void {
    this.check(event, 'remove');
  }

  beforeSoftRemove(event: SoftRemoveEvent<unknown>): void {
    this.check(event, 'soft remove');
  }

  private check(event: { queryRunner: { data?: { unitOfWork?: string } }; metadata: { tableName: string } }, what: string): void {
    if (!event.queryRunner.data?.unitOfWork) {
      throw new NoUnitOfWorkError(`${what} on ${event.metadata.tableName}`);
    }
  }
}
