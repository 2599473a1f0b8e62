import type { RuntimeToolName } from '../../agents/tools.js';

/** What a runtime tool may look at: whether this call may still hand the turn to another agent. */
export interface RuntimeToolContext {
  /** False once the turn used its switches, or an earlier call of the same answer already hands over. */
  mayHandOver: boolean;
  maxSwitches: number;
}

/** A runtime tool's effect: the tool message the LLM gets back, and what the turn does next. */
export interface RuntimeToolOutcome {
  reply: string;
  handOver?: { to: string; reason: string };
  /** An assistant message that ends the turn (shown to the user), unless other calls wait. */
  final?: { content: string; metadata?: Record<string, unknown> };
}

export type RuntimeToolHandler = (args: Record<string, unknown>, context: RuntimeToolContext) => RuntimeToolOutcome;

/** The tools the runtime runs itself, by name. Their specs live with the others in `agents/tools.ts`. */
export const RUNTIME_TOOLS: Readonly<Record<RuntimeToolName, RuntimeToolHandler>> = {
  switch_mode: (args, { mayHandOver, maxSwitches }) => {
    if (!mayHandOver) {
      return { reply: `Refused: no more agent switches in this turn (at most ${maxSwitches}); carry on yourself.` };
    }
    const to = String(args.agent);
    return { reply: `Switched to the ${to} agent.`, handOver: { to, reason: String(args.reason ?? '') } };
  },

  attempt_completion: (args) => ({
    reply: 'Completion accepted; the result was shown to the user.',
    final: { content: String(args.result ?? '') },
  }),

  ask_followup_question: (args) => {
    const suggestions = Array.isArray(args.suggestions) ? args.suggestions : undefined;
    return {
      reply: 'The question was shown to the user; their answer will come as the next message.',
      final: { content: String(args.question ?? ''), ...(suggestions ? { metadata: { suggestions } } : {}) },
    };
  },
};
