import { Module } from '@nestjs/common';

/** Agent definitions, tools, routing and switching. */
@Module({})
export class AgentsModule {}
