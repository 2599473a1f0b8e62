import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsObject, IsOptional, IsString, MaxLength, ValidateIf } from 'class-validator';
import { TurnRequestDto } from '../common/turn-request.dto.js';
import type { ApprovalStatus } from './approval.entity.js';

export const APPROVAL_STATUSES = ['pending', 'approved', 'edited', 'rejected', 'expired'] as const;

export class ListApprovalsQuery {
  @ApiPropertyOptional({ enum: APPROVAL_STATUSES })
  @IsOptional()
  @IsIn(APPROVAL_STATUSES)
  status?: ApprovalStatus;
}

export class DecideApprovalDto extends TurnRequestDto {
  @ApiProperty({ enum: ['approve', 'edit', 'reject'] })
  @IsIn(['approve', 'edit', 'reject'])
  decision: 'approve' | 'edit' | 'reject';

  @ApiPropertyOptional({ type: Object, description: 'With `edit`: the arguments to run the tool with instead' })
  @ValidateIf((o: DecideApprovalDto) => o.decision === 'edit' || o.arguments !== undefined)
  @IsObject({ message: 'arguments must be an object (required with decision "edit")' })
  arguments?: Record<string, unknown>;

  @ApiPropertyOptional({ maxLength: 10_000, description: 'What the agent should hear, e.g. why the call was rejected' })
  @IsOptional()
  @IsString()
  @MaxLength(10_000)
  feedback?: string;
}

export class ApprovalView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() toolCallId: string;
  @ApiProperty() toolName: string;
  @ApiProperty({ type: Object }) arguments: Record<string, unknown>;
  @ApiPropertyOptional({ type: Object, description: 'What was approved, when it differs from what the LLM asked' })
  approvedArguments?: Record<string, unknown>;
  @ApiProperty({ enum: APPROVAL_STATUSES }) status: ApprovalStatus;
  @ApiProperty() reason: string;
  @ApiPropertyOptional() feedback?: string;
  @ApiProperty() createdAt: Date;
  @ApiPropertyOptional() decidedAt?: Date;
  @ApiProperty() expiresAt: Date;
}

export class ApprovalList {
  @ApiProperty({ type: [ApprovalView] }) items: ApprovalView[];
}
