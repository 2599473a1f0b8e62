/**
 * Writes to `messages` that other modules' statements embed, as SQL this module defines (like
 * `sessions/session-writes.ts`). No SQL outside `src/messages/` writes `messages`
 * (test/unit/table-owners.spec.ts checks it).
 */
export const messageWrites = {
  /**
   * Stores the rows of the CTE `answers` (`turn_id`, `session_id`, `agent`, `content`) as interrupted
   * assistant answers, skipping empty ones; returns `session_id` per stored message, for counting.
   */
  interruptedAnswers: (answers: string): string =>
    `INSERT INTO messages (session_id, turn_id, role, content, agent, status)
     SELECT a.session_id, a.turn_id, 'assistant', a.content, a.agent, 'interrupted' FROM ${answers} a
     WHERE a.content <> ''
     RETURNING session_id`,
};
