import { AgentSwitchEntity } from '../agents/agent-switch.entity.js';
import { ApprovalEntity } from '../approvals/approval.entity.js';
import { MessageEntity } from '../messages/message.entity.js';
import { TurnEntity } from '../turns/turn.entity.js';
import { SessionEntity } from '../sessions/session.entity.js';

export const entities = [SessionEntity, TurnEntity, MessageEntity, AgentSwitchEntity, ApprovalEntity];
