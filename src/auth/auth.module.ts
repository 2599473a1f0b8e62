import { Module } from '@nestjs/common';

/** API keys, owners and rate limits. */
@Module({})
export class AuthModule {}
