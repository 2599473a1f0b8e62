/**
 * Writes to `messages` that other modules' statements embed, as SQL this module defines (like
 * `sessions/session-writes.ts`). No SQL outside `src/messages/` writes `messages`
 * (test/unit/table-owners.spec.ts checks it).
 */
export const messageWrites = {
  /**
   * Stores the rows of the CTE `answers` (`turn_id`, `session_id`, `agent`, `content`, and
   * `after_message`, the id of the last message the text came after, or null) as interrupted
   * assistant answers; skips empty ones, and those of a turn that stored an answer after
   * `after_message` (its text is already there). Returns `session_id` per stored message, for counting.
   */
  interruptedAnswers: (answers: string): string =>
    `INSERT INTO messages (session_id, turn_id, role, content, agent, status)
     SELECT a.session_id, a.turn_id, 'assistant', a.content, a.agent, 'interrupted' FROM ${answers} a
     WHERE a.content <> '' AND NOT EXISTS (
       SELECT 1 FROM messages later
       WHERE later.session_id = a.session_id AND later.turn_id = a.turn_id AND later.role = 'assistant'
         AND later.seq > COALESCE((SELECT m.seq FROM messages m WHERE m.id = a.after_message::uuid), 0))
     RETURNING session_id`,
};
