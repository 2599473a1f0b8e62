/** How a turn ends, as its `done` tells it. */
export const DONE_STATUSES = ['completed', 'awaiting_tool_result', 'awaiting_approval', 'cancelled', 'interrupted', 'failed'] as const;
export type DoneStatus = (typeof DONE_STATUSES)[number];

/** A turn's status: `running` until its `done`. */
export const TURN_STATUSES = ['running', ...DONE_STATUSES] as const;
export type TurnStatus = (typeof TURN_STATUSES)[number];
