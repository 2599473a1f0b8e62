import { Injectable } from '@nestjs/common';
import { Observable } from 'rxjs';
import { DatabaseNotifications } from '../../database/database-notifications.js';
import type { StampedEvent } from '../protocol/turn-event.js';
import { channelOf, EventLog, RowNotice } from './event-log.js';

/**
 * A running turn's events as they are stored, from any instance: its channel is listened to first
 * (one LISTEN per instance and turn, whoever follows it), then the stored rows after `after` are
 * read, then each announced row is sent, with its events from the notification when they fit,
 * else read. Ids are consecutive within a turn, so a gap (a notification lost with the connection,
 * or too big to carry its events) is noticed and read. Ends after `done`.
 */
@Injectable()
export class EventFeed {
  constructor(
    private readonly notifications: DatabaseNotifications,
    private readonly log: EventLog,
  ) {}

  follow(turn: { id: string; seq: number }, after: number): Observable<StampedEvent> {
    return new Observable<StampedEvent>((subscriber) => {
      let last = after;
      let ended = false;
      // Notifications and reads are handled one at a time, in order.
      let queue: Promise<void> = Promise.resolve();
      let unlisten: (() => void) | undefined;
      const send = (events: StampedEvent[]) => {
        for (const event of events) {
          if (ended || event.id <= last) continue;
          last = event.id;
          subscriber.next(event);
          if (event.type === 'done') {
            ended = true;
            subscriber.complete();
          }
        }
      };
      const then = (step: () => Promise<void> | void) => {
        queue = queue.then(async () => {
          if (!ended) await step();
        });
        queue.catch((error: unknown) => {
          ended = true;
          subscriber.error(error);
        });
      };
      const catchUp = () => then(async () => send(await this.log.read(turn.seq, last)));
      const listener = {
        notified: (payload: string) =>
          then(async () => {
            const notice = JSON.parse(payload) as RowNotice;
            if (notice.last <= last) return;
            if (!notice.events || notice.first > last + 1) return send(await this.log.read(turn.seq, last));
            send(notice.events.map((event, i) => ({ ...event, id: notice.first + i }) as StampedEvent));
          }),
        resync: catchUp,
      };
      this.notifications.listen(channelOf(turn.id), listener).then(
        (stop) => {
          if (subscriber.closed) return stop();
          unlisten = stop;
          catchUp();
        },
        (error: unknown) => subscriber.error(error),
      );
      return () => {
        ended = true;
        unlisten?.();
      };
    });
  }
}
