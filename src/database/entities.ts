import { AgentSwitchEntity } from '../sessions/agent-switch.entity.js';
import { ApprovalEntity } from '../approvals/approval.entity.js';
import { MessageEntity } from '../messages/message.entity.js';
import { TurnEntity } from '../turns/turn.entity.js';
import { SessionEntity } from '../sessions/session.entity.js';
import { TurnEventRowEntity } from '../turns/event-log/turn-event-row.entity.js';
import { IdempotencyKeyEntity } from '../idempotency/idempotency-key.entity.js';
import { RateLimitHitEntity } from '../auth/rate-limit-hit.entity.js';

export const entities = [
  SessionEntity,
  TurnEntity,
  MessageEntity,
  AgentSwitchEntity,
  ApprovalEntity,
  TurnEventRowEntity,
  IdempotencyKeyEntity,
  RateLimitHitEntity,
];
