import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOperation, ApiTags } from '@nestjs/swagger';
import { HealthCheck, HealthCheckService, HealthIndicatorService } from '@nestjs/terminus';
import type { Response } from 'express';
import { DataSource } from 'typeorm';
import { ShutdownState } from './shutdown-state.js';

@ApiTags('operations')
@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly dataSource: DataSource,
    private readonly shutdown: ShutdownState,
  ) {}

  @Get('live')
  @ApiOperation({ summary: 'Liveness: the process is up' })
  @HealthCheck()
  live() {
    return this.health.check([]);
  }

  @Get('ready')
  @ApiOperation({ summary: 'Readiness: the service can take turns (the database answers and no stop is under way)' })
  @HealthCheck()
  ready(@Res({ passthrough: true }) res: Response) {
    // Not ready is an answer for probes and operators, in Terminus's shape, not an API error.
    return this.health
      .check([
        () =>
          this.indicators
            .check('database')
            .attempt(async () => {
              // Through the database breaker: down at once while it is open, and its probe once the cooldown is over.
              await this.dataSource.query('SELECT 1');
            })
            .withTimeout(2_000),
        () => {
          const indicator = this.indicators.check('shutdown');
          return this.shutdown.stopping ? indicator.down('the service is stopping') : indicator.up();
        },
      ])
      .catch((error: unknown) => {
        if (!(error instanceof ServiceUnavailableException)) throw error;
        res.status(503);
        return error.getResponse();
      });
  }
}
