import type { AgentType } from './agent-definition.js';
import type { AgentCatalog } from './agent-catalog.js';

/** The orchestrator's decision: which specialist takes the request. */
export interface Classification {
  agent: AgentType;
  reason: string;
  /** 0..1 */
  confidence: number;
}

/** Stored and shown in `agent_switched`; an LLM's essay there helps nobody. */
const MAX_REASON_LENGTH = 500;
/** A classification is a line of JSON; scanning a runaway answer in full would only cost time. */
const MAX_CLASSIFICATION_TEXT = 20_000;

/**
 * The system prompt of the orchestrator's classification call. It asks for bare JSON rather than a
 * tool call so that routing works with models that cannot call tools; the user's request is sent
 * as the user message after it.
 */
export function classificationPrompt(catalog: AgentCatalog): string {
  const specialists = catalog.specialists();
  const list = specialists.map((agent) => `- ${agent.type}: ${agent.description}`).join('\n');
  const names = specialists.map((agent) => `"${agent.type}"`).join(', ');
  return `You route requests of a software developer to the one specialist agent best suited to handle them. You do not answer the request yourself.

The specialists:
${list}

When a request mixes kinds of work, pick the specialist whose work must come first: investigate a failure before fixing it, plan a large change before building it.

Reply with exactly one JSON object and nothing else — no code fence, no explanation:
{"agent": <one of ${names}>, "reason": "<one short sentence: why this specialist>", "confidence": <a number from 0 to 1>}`;
}

/**
 * Reads the classification out of an LLM's answer. Tolerates a code fence and prose around the
 * JSON, any letter case in the agent name, a missing reason, and a confidence given as a string,
 * missing (0.5) or out of range (clamped). Returns undefined when no JSON object with an `agent`
 * naming one of the catalog's specialists can be found.
 */
export function parseClassification(text: string, catalog: AgentCatalog): Classification | undefined {
  for (const candidate of jsonObjectsIn(text.slice(0, MAX_CLASSIFICATION_TEXT))) {
    if (typeof candidate.agent !== 'string') continue;
    const agent = catalog.get(candidate.agent.trim().toLowerCase());
    if (!agent || agent.role !== 'specialist') return undefined;
    const reason = typeof candidate.reason === 'string' ? candidate.reason.trim().slice(0, MAX_REASON_LENGTH) : '';
    return { agent: agent.type, reason, confidence: confidenceOf(candidate.confidence) };
  }
  return undefined;
}

function confidenceOf(value: unknown): number {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof number !== 'number' || !Number.isFinite(number)) return 0.5;
  return Math.min(1, Math.max(0, number));
}

/** Every top-level `{...}` in the text that parses as a JSON object, in order. */
function* jsonObjectsIn(text: string): Generator<Record<string, unknown>> {
  let start = text.indexOf('{');
  while (start !== -1) {
    const end = matchingBrace(text, start);
    if (end !== -1) {
      try {
        const value: unknown = JSON.parse(text.slice(start, end + 1));
        if (value !== null && typeof value === 'object' && !Array.isArray(value)) yield value as Record<string, unknown>;
      } catch {
        // Not JSON (prose in braces, a code sample): look further on.
      }
    }
    start = text.indexOf('{', start + 1);
  }
}

/** Index of the `}` closing the `{` at `start`, skipping braces inside JSON strings; -1 if none. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) return i;
  }
  return -1;
}

/** Keyword rules, in the order that breaks ties: find a cause before fixing, plan before building. */
const KEYWORD_RULES: readonly { agent: AgentType; patterns: readonly RegExp[] }[] = [
  {
    agent: 'debug',
    patterns: [
      /\bbugs?\b/,
      /\berrors?\b/,
      /\bexceptions?\b/,
      /\bstack ?traces?\b/,
      /\btraceback\b/,
      /\bfail(s|ed|ing|ure|ures)?\b/,
      /\bcrash(es|ed|ing)?\b/,
      /\bbroken\b/,
      /\bdebug(ging)?\b/,
      /\b(does not|doesn't|not) work(ing)?\b/,
      /\bwhy (is|does|do|did)\b.*\b(fail|break|crash|wrong|empty|null|undefined|slow)/,
    ],
  },
  {
    agent: 'architect',
    patterns: [
      /\bdesign(s|ing)?\b/,
      /\barchitecture\b/,
      /\barchitect\b/,
      /\bplan(s|ning)?\b/,
      /\bdiagrams?\b/,
      /\broadmap\b/,
      /\bspecification\b/,
      /\bdata model\b/,
      /\bsystem design\b/,
    ],
  },
  {
    agent: 'ask',
    patterns: [
      /\bexplain(s|ing)?\b/,
      /\bwhat (is|are|does|do)\b/,
      /\bhow (does|do|is|are|can|should)\b/,
      /\bwhy\b/,
      /\bdifference between\b/,
      /\bwhat's\b/,
      /\bdescribe\b/,
      /\bunderstand\b/,
    ],
  },
  {
    agent: 'coder',
    patterns: [
      /\bimplement(s|ing|ation)?\b/,
      /\bwrite\b/,
      /\bcreate\b/,
      /\badd\b/,
      /\bfix\b/,
      /\brefactor(ing)?\b/,
      /\bread\b/,
      /\brun\b/,
      /\bupdate\b/,
      /\brename\b/,
      /\bchange\b/,
      /\bbuild\b/,
      /\bcode\b/,
      /\btests?\b/,
    ],
  },
];

/**
 * Routing without an LLM verdict: each agent scores one point per matching keyword rule; the
 * highest score wins, ties going to the earlier rule; nothing matched means the coder.
 */
export function classifyByKeywords(text: string): Classification {
  const lowered = text.toLowerCase();
  let best: { agent: AgentType; matched: string[] } | undefined;
  for (const rule of KEYWORD_RULES) {
    const matched = rule.patterns.flatMap((pattern) => lowered.match(pattern)?.[0] ?? []);
    if (matched.length > 0 && matched.length > (best?.matched.length ?? 0)) best = { agent: rule.agent, matched };
  }
  if (!best) return { agent: 'coder', reason: 'No routing keyword matched; the coder takes the request by default.', confidence: 0.2 };
  return {
    agent: best.agent,
    reason: `Keywords ${best.matched.map((word) => `"${word}"`).join(', ')} point to ${best.agent}.`,
    confidence: Math.min(0.7, 0.3 + 0.1 * best.matched.length),
  };
}
