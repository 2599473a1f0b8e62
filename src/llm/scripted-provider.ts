import { setTimeout as sleep } from 'node:timers/promises';
import { Settings } from '../config/settings.js';
import { ChatMessage, LlmEvent, LlmProvider, LlmRequest, LlmToolCall } from './llm-provider.js';

/** Requests the scripted model answers with a tool call, when the agent is offered that tool. */
const TOOL_REQUESTS: Array<{ pattern: RegExp; tool: string; args: (m: RegExpMatchArray) => Record<string, unknown> }> = [
  { pattern: /\bread\s+(?:the\s+)?(?:file\s+)?([\w./-]+\.\w+)/i, tool: 'read_file', args: (m) => ({ path: m[1] }) },
  {
    pattern: /\b(?:create|write)\s+(?:a\s+|the\s+)?(?:new\s+)?file\s+(?:called\s+|named\s+)?([\w./-]+)/i,
    tool: 'write_file',
    args: (m) => ({ path: m[1], content: `# ${m[1]}\n\nWritten by the scripted model.\n` }),
  },
  { pattern: /\brun\s+[`"']?([^`"'\n]+?)[`"']?\s*$/i, tool: 'execute_command', args: (m) => ({ command: m[1].trim() }) },
  { pattern: /\blist\s+(?:the\s+)?files\b(?:\s+in\s+([\w./-]+))?/i, tool: 'list_files', args: (m) => ({ path: m[1] ?? '.' }) },
  { pattern: /\bsearch\s+(?:the\s+code\s+)?for\s+[`"']?([^`"'\n]+?)[`"']?\s*$/i, tool: 'search_in_code', args: (m) => ({ query: m[1] }) },
];

function textOf(message: ChatMessage | undefined): string {
  const content = message?.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => ('text' in p ? p.text : '')).join(' ');
  return '';
}

function excerpt(text: string, words: number): string {
  const parts = text.trim().split(/\s+/);
  return parts.slice(0, words).join(' ') + (parts.length > words ? ' …' : '');
}

/**
 * The offline default: a deterministic model that streams a plausible answer word by word, and
 * answers recognisable requests ("read README.md", "create a file notes.md", "run npm test") with
 * the matching tool call, so every feature can be tried without an LLM.
 */
export class ScriptedProvider extends LlmProvider {
  readonly name = 'scripted';
  readonly model = 'scripted-1';

  constructor(private readonly settings: Settings) {
    super();
  }

  async stream(request: LlmRequest, onEvent: (event: LlmEvent) => void): Promise<void> {
    const last = request.messages[request.messages.length - 1];
    const offered = new Set((request.tools ?? []).map((t) => (t.type === 'function' ? t.function.name : '')));
    const inputTokens = Math.ceil(request.messages.reduce((n, m) => n + textOf(m).length, 0) / 4);

    // A request for a bare JSON answer (the orchestrator's routing) gets none: the caller's
    // keyword rules then decide, which is what they are for.
    if (!request.tools?.length && /JSON object/.test(textOf(request.messages[0]))) {
      onEvent({ type: 'text', delta: 'The scripted model does not classify requests.' });
      return;
    }

    if (last?.role === 'user') {
      const text = textOf(last);
      for (const { pattern, tool, args } of TOOL_REQUESTS) {
        const match = text.match(pattern);
        if (match && offered.has(tool)) {
          const call: LlmToolCall = {
            id: `call_${hash(text + request.messages.length)}`,
            name: tool,
            arguments: JSON.stringify(args(match)),
          };
          await this.words(`I'll use ${tool} for that.`, request.signal, onEvent);
          onEvent({ type: 'tool_calls', calls: [call] });
          onEvent({ type: 'usage', inputTokens, outputTokens: 12 });
          return;
        }
      }
    }

    const answer = last?.role === 'tool' ? this.afterTool(textOf(last)) : this.answer(textOf(last));
    await this.words(answer, request.signal, onEvent);
    onEvent({ type: 'usage', inputTokens, outputTokens: answer.split(/\s+/).length });
  }

  private answer(question: string): string {
    const topic = excerpt(question.replace(/\s+/g, ' '), 12) || 'your message';
    return (
      `You asked about "${topic}". ` +
      'Here is how I would approach it. First, I would make sure we agree on what the result should look like, ' +
      'so that nothing is built on a wrong assumption. Then I would take the smallest step that shows progress ' +
      'and check it before going further. Finally, I would write down what changed and why, ' +
      'so the next person can follow. I am the offline scripted model: set LLM_BASE_URL to talk to a real one.'
    );
  }

  private afterTool(result: string): string {
    const summary = excerpt(result.replace(/\s+/g, ' '), 20) || 'nothing';
    return `The tool answered: "${summary}". That is what I needed; the step is done.`;
  }

  private async words(text: string, signal: AbortSignal, onEvent: (event: LlmEvent) => void): Promise<void> {
    const delay = this.settings.SCRIPTED_TOKEN_DELAY_MS;
    const words = text.split(/(?<=\s)/);
    for (const word of words) {
      signal.throwIfAborted();
      if (delay > 0) await sleep(delay, undefined, { signal });
      onEvent({ type: 'text', delta: word });
    }
  }
}

function hash(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return (h >>> 0).toString(36);
}
