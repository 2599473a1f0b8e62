import { MiddlewareConsumer, Module, NestModule, RequestMethod } from '@nestjs/common';
import { playgroundAssets } from './playground-assets.js';
import { servePlayground } from './playground.middleware.js';

/** The web page at `/` (with `PLAYGROUND=true`): sessions, streaming chat, tool cards and approvals over the public API. */
@Module({})
export class PlaygroundModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(servePlayground(playgroundAssets()))
      .forRoutes({ path: '/', method: RequestMethod.GET }, { path: 'playground/*path', method: RequestMethod.GET });
  }
}
