/**
 * The writes to `sessions` that other modules' micro-transactions make, as SQL the sessions module
 * defines and they embed: a turn's start, end and messages each commit in ONE statement (a CTE),
 * which saves BEGIN/COMMIT round trips on the hot path (see BENCHMARKS.md), so the session's part
 * cannot be a separate call. Each function takes the `$n` placeholders of its values, never values.
 * No SQL outside `src/sessions/` writes `sessions` (test/unit/table-owners.spec.ts checks it).
 */
export const sessionWrites = {
  /** Takes the lease of the owner's free session for a turn; returns `id, current_agent`, or no row. */
  takeLease: (p: { session: string; owner: string; turn: string; seconds: string }): string =>
    `UPDATE sessions s SET active_turn_id = ${p.turn}, lease_expires_at = now() + make_interval(secs => ${p.seconds})
     WHERE s.id = ${p.session} AND s.owner = ${p.owner} AND s.deleted_at IS NULL
       AND (s.active_turn_id IS NULL OR s.lease_expires_at < now())
     RETURNING s.id, s.current_agent`,

  /** Releases the turn's lease (if it still holds it) and marks the session active. */
  releaseLease: (p: { session: string; turn: string }): string =>
    `UPDATE sessions SET active_turn_id = NULL, lease_expires_at = NULL, last_activity_at = now()
     WHERE id = ${p.session} AND active_turn_id = ${p.turn}`,

  /** Counts the messages the CTE `stored` returns (one `session_id` per message) on their sessions. */
  countStoredMessages: (stored: string): string =>
    `UPDATE sessions s SET message_count = s.message_count + c.n, last_activity_at = now(), updated_at = now()
     FROM (SELECT session_id, count(*) AS n FROM ${stored} GROUP BY session_id) c
     WHERE s.id = c.session_id`,

  /** Counts appended messages; `title` names a session that has none yet. */
  countMessages: (p: { session: string; count: string; title: string }): string =>
    `UPDATE sessions SET message_count = message_count + ${p.count}, last_activity_at = now(), updated_at = now(),
                         title = COALESCE(title, ${p.title})
     WHERE id = ${p.session}`,
};
