/**
 * Deliberate bugs, one per claim the README makes, and the specs that must catch each. A mutant
 * replaces `find` (which must occur exactly once in `file`) with `replace`, then each of `also` in
 * turn. When the code moves, move the mutant with it; when a new claim is made, add one.
 */
export interface Edit {
  find: string;
  replace: string;
}

export interface Mutant extends Edit {
  name: string;
  claim: string;
  file: string;
  /** Further edits of the same file, for a bug that spans two places (each `find` occurs once). */
  also?: Edit[];
  /** Words that pick the spec files to run (as `npm test -- word`). */
  specs: string[];
}

export const mutants: Mutant[] = [
  {
    name: 'partial-answer-lost',
    claim: 'the text streamed before an abort is stored as an interrupted answer',
    file: 'src/turns/steps/failure-policy.ts',
    find: '    else if (!isSessionGone(failure)) await this.savePartial(turn);\n',
    replace: '',
    specs: ['unit-of-work'],
  },
  {
    name: 'answer-after-done',
    claim: "the assistant message commits before the turn's done",
    file: 'src/turns/steps/run-llm-step.ts',
    find: "    const [answer] = await commitMessages(this.txHost, turn, 'save_assistant_message', save, calls.length === 0);\n",
    replace:
      '    const answer = {} as Awaited<ReturnType<typeof save>>[number];\n' +
      "    void commitMessages(this.txHost, turn, 'save_assistant_message', save, calls.length === 0).catch(() => undefined);\n",
    specs: ['unit-of-work'],
  },
  {
    name: 'event-before-commit',
    claim: 'a message event describes a committed row',
    file: 'src/turns/turn.ts',
    find: '  const saved = single ? await txHost.statement(operation, work) : await txHost.transaction(operation, work);\n  for (const message of saved) turn.emit(events.message(message));\n',
    replace:
      '  const early = async () => {\n' +
      '    const rows = await work();\n' +
      '    for (const message of rows) turn.emit(events.message(message));\n' +
      '    await new Promise((resolve) => setTimeout(resolve, 200));\n' +
      '    return rows;\n' +
      '  };\n' +
      '  const saved = single ? await txHost.statement(operation, work) : await txHost.transaction(operation, early);\n' +
      '  if (single) for (const message of saved) turn.emit(events.message(message));\n',
    specs: ['unit-of-work'],
  },
  {
    name: 'lease-ignores-owner',
    claim: "a key never runs a turn on another owner's session",
    file: 'src/sessions/session-writes.ts',
    find: 'AND s.owner = ${p.owner} AND',
    replace: 'AND (s.owner = ${p.owner} OR true) AND',
    specs: ['auth'],
  },
  {
    name: 'lease-not-extended',
    claim: 'a running turn keeps its lease by renewing it',
    file: 'src/sessions/session-lease.ts',
    find: 'UPDATE sessions SET lease_expires_at = now() + make_interval(secs => $2)',
    replace: 'UPDATE sessions SET lease_expires_at = lease_expires_at + make_interval(secs => $2 * 0)',
    specs: ['conversation-turns'],
  },
  {
    name: 'connection-held',
    claim: 'no pooled connection is held while the LLM answers',
    // A pooled connection taken just before the LLM call and given back after it, outside any
    // transaction: what code that "only reads something" around the call would do.
    file: 'src/turns/steps/run-llm-step.ts',
    find: '    await this.llm.stream({ messages: context, tools, signal: turn.signal }, (event) => {\n',
    replace:
      "    const pooled = this.txHost['dataSource'].createQueryRunner();\n" +
      '    await pooled.connect();\n' +
      '    try {\n' +
      '    await this.llm.stream({ messages: context, tools, signal: turn.signal }, (event) => {\n',
    also: [
      {
        find: '    const text = turn.partial;\n',
        replace: '    } finally {\n      await pooled.release();\n    }\n    const text = turn.partial;\n',
      },
    ],
    specs: ['unit-of-work'],
  },
  {
    name: 'lapsed-lease-revived',
    claim: 'a lease that lapsed is not revived by the renewal: the turn stops (lease_lost)',
    file: 'src/sessions/session-lease.ts',
    find: ' AND deleted_at IS NULL AND lease_expires_at > now()\n',
    replace: ' AND deleted_at IS NULL\n',
    specs: ['conversation-turns'],
  },
  {
    name: 'dead-answer-stored-twice',
    claim: "a dead turn's answer is stored once: recovery skips it when the turn had committed it before its event",
    file: 'src/messages/message-writes.ts',
    find:
      "     WHERE a.content <> '' AND NOT EXISTS (\n" +
      '       SELECT 1 FROM messages later\n' +
      "       WHERE later.session_id = a.session_id AND later.turn_id = a.turn_id AND later.role = 'assistant'\n" +
      '         AND later.seq > COALESCE((SELECT m.seq FROM messages m WHERE m.id = a.after_message::uuid), 0))\n',
    replace: "     WHERE a.content <> ''\n",
    specs: ['conversation-turns'],
  },
  {
    name: 'lapsed-end-not-claimed',
    claim: "a lapsed turn's end is recorded once: when the sweep ended it first, the turn stores no second answer",
    file: 'src/turns/steps/failure-policy.ts',
    find: "    if (turn.stop.signal.reason === 'lease_lost' && !(await this.claimLapsedEnd(turn))) turn.endedElsewhere = true;\n    else if",
    replace: '    if',
    specs: ['conversation-turns'],
  },
  {
    name: 'stopped-call-counted',
    claim: 'a stop never counts against the LLM circuit breaker, even while the request waits for its first token',
    file: 'src/llm/llm-client.ts',
    find: '    if (turn.aborted && !(reason instanceof LlmError)) {\n      ticket.ignored();\n',
    replace: '    if (turn.aborted && !(reason instanceof LlmError)) {\n      ticket.failed();\n',
    specs: ['turn-stops'],
  },
  {
    name: 'approval-check-then-update',
    claim: 'exactly one of two racing decisions on an approval wins',
    file: 'src/approvals/approvals.service.ts',
    find: "    const [rows] = await this.txHost.tx.query(\n      `UPDATE approvals SET status = $2, approved_arguments = $3, feedback = $4, decided_at = now()\n       WHERE id = $1 AND status = 'pending' AND expires_at > now()\n",
    replace:
      '    const [{ status: seen }] = await this.txHost.tx.query(`SELECT status FROM approvals WHERE id = $1`, [approval.id]);\n' +
      "    const [rows] = await this.txHost.tx.query(\n      `UPDATE approvals SET status = $2, approved_arguments = $3, feedback = $4, decided_at = now()\n       WHERE id = $1 AND '${seen}' = 'pending' AND expires_at > now()\n",
    specs: ['approvals'],
  },
  {
    name: 'write-guard-off',
    claim: 'a write outside a micro-transaction throws, raw SQL included',
    file: 'src/unit-of-work/write-guard.ts',
    find: 'if (!inMicroTransaction(runner) && isWrite(sql)) {',
    replace: 'if (process.env.NEVER === "1" && !inMicroTransaction(runner) && isWrite(sql)) {',
    specs: ['unit-of-work'],
  },
  {
    name: 'done-before-finish',
    claim: "a client may send the next turn the moment it reads done (the turn's end commits first)",
    file: 'src/turns/steps/turn-lifetime.ts',
    find: '      done = await this.finish(turn, status, error);\n',
    replace:
      '      done = turn.events.stamp(events.done(turn.id, status, turn.usage));\n' +
      '      setTimeout(() => void this.finish(turn, status, error).catch(() => undefined), 300);\n',
    specs: ['conversation-turns', 'unit-of-work'],
  },
];
