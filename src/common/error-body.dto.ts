import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** One field of the request that was refused, and why. */
export class ErrorDetail {
  @ApiProperty({ description: 'The path of the field in the body, query or URL', example: 'content' })
  field: string;

  @ApiProperty({ example: 'content must not be blank' })
  message: string;
}

/**
 * The body of every 4xx and 5xx answer. `code` is the stable part a client branches on; the
 * stream's `error` events use the same codes.
 */
export class ErrorBody {
  @ApiProperty({ description: 'The HTTP status, repeated', example: 400 })
  statusCode: number;

  @ApiProperty({ description: 'What went wrong, as a stable snake_case code', example: 'invalid_input' })
  code: string;

  @ApiProperty({ description: 'What went wrong, for a person', example: 'content must not be blank' })
  message: string;

  @ApiPropertyOptional({ type: [ErrorDetail], description: 'With validation errors: one entry per refused field' })
  details?: ErrorDetail[];
}
