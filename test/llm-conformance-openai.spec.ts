import { expect } from 'expect';
import { describe, it } from 'node:test';
import { conformance } from './support/conformance.js';
import { openai, Shape } from './support/provider-stub.js';

const { chunk, usage, done } = openai;
const tool = (part: Record<string, unknown>) => chunk({ tool_calls: [part] });
const slowly = (shape: Shape, delayMs: number): Shape => ({ ...shape, delayMs });

describe('OpenAI-compatible providers: the conformance suite', () => {
  const c = conformance('openai');

  it('a plain stream with a usage-only last chunk', async () => {
    await c.check([openai.text('A plain answer.')], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'A plain answer.',
      rows: [{ role: 'assistant', content: 'A plain answer.' }],
      usage: { prompt: 11, completion: 7 },
    });
    const request = c.stub.requests.at(-1)!;
    expect(request.path).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe('Bearer sk-test-key-0123456789');
    expect(request.body).toMatchObject({ model: 'conformance-model', stream: true, stream_options: { include_usage: true } });
  });

  it('events split across network chunks, with CRLF line ends and a comment between them', async () => {
    const first = chunk({ content: 'Split ' });
    const second = chunk({ content: 'in two.' }, 'stop').replaceAll('\n', '\r\n');
    const frames = [first.slice(0, 25), first.slice(25), ': keep-alive\r\n\r\n', second.slice(0, 40), second.slice(40), done];
    await c.check([slowly({ frames }, 20)], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'Split in two.',
      rows: [{ role: 'assistant', content: 'Split in two.' }],
    });
  });

  it('reasoning deltas (`reasoning_content`) slower than the idle limit: streamed as reasoning, stored apart, never sent back', async () => {
    const thinking = Array.from({ length: 6 }, (_, i) => chunk({ reasoning_content: `step ${i}. ` }));
    const result = await c.check([slowly({ frames: [...thinking, chunk({ content: 'Answer.' }), chunk({}, 'stop'), done] }, 250)], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'Answer.',
      reasoning: 'step 0. step 1. step 2. step 3. step 4. step 5. ',
      rows: [{ role: 'assistant', content: 'Answer.', reasoning: 'step 0. step 1. step 2. step 3. step 4. step 5. ' }],
      usage: { prompt: null, completion: null },
    });
    await c.turn([openai.text('Next.')], result.sessionId);
    const sent = c.stub.requests.at(-1)!.body.messages;
    expect(sent.find((m: { role: string }) => m.role === 'assistant')).toEqual({ role: 'assistant', content: 'Answer.' });
  });

  it('`reasoning` deltas, then comment keep-alives (`: OPENROUTER PROCESSING`) for longer than the idle limit', async () => {
    const keepAlive = Array.from({ length: 6 }, () => ': OPENROUTER PROCESSING\n\n');
    await c.check([slowly({ frames: [chunk({ reasoning: 'Hmm. ' }), ...keepAlive, chunk({ content: 'Done.' }, 'stop'), done] }, 250)], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'Done.',
      reasoning: 'Hmm. ',
      rows: [{ role: 'assistant', content: 'Done.', reasoning: 'Hmm. ' }],
    });
  });

  // The harness: LLM_IDLE_TIMEOUT_MS=1000, LLM_FIRST_TOKEN_TIMEOUT_MS=3000 (a cold local model loading).
  const late = (delayMs: number): Shape => ({ frames: [openai.text('Loaded at last.').frames.join('')], delayMs });

  it('a first byte later than the idle limit but within the first-token timeout: completed', async () => {
    await c.check([late(1500)], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'Loaded at last.',
      rows: [{ role: 'assistant', content: 'Loaded at last.' }],
    });
  });

  it('no byte within the first-token timeout: retried once, llm_timeout', async () => {
    await c.check([late(3500)], {
      status: 'failed',
      breaker: { failures: 2, successes: 0 },
      code: 'llm_timeout',
      rows: [],
      turnError: /sent nothing in time/,
      requests: 2,
      errorType: 'timeout',
    });
  });

  it('tool calls without `index`', async () => {
    const frames = [
      tool({ id: 'call_a', type: 'function', function: { name: 'read_file', arguments: '' } }),
      tool({ function: { arguments: '{"path": ' } }),
      tool({ function: { arguments: '"README.md"}' } }),
      tool({ id: 'call_b', type: 'function', function: { name: 'list_files', arguments: '{"path": "."}' } }),
      chunk({}, 'tool_calls'),
      done,
    ];
    await c.check([{ frames }], {
      status: 'awaiting_tool_result',
      breaker: { failures: 0, successes: 1 },
      toolCalls: [
        { toolCallId: 'call_a', name: 'read_file', arguments: { path: 'README.md' } },
        { toolCallId: 'call_b', name: 'list_files', arguments: { path: '.' } },
      ],
      rows: [{ role: 'assistant', content: null, toolNames: ['read_file', 'list_files'] }],
    });
  });

  it('two parallel tool calls with neither `index` nor `id`: a name after complete arguments starts the next call', async () => {
    const frames = [
      tool({ type: 'function', function: { name: 'read_file', arguments: '' } }),
      tool({ function: { arguments: '{"path": "a.md"}' } }),
      tool({ type: 'function', function: { name: 'list_files', arguments: '{"path": ' } }),
      tool({ function: { arguments: '"."}' } }),
      chunk({}, 'tool_calls'),
      done,
    ];
    await c.check([{ frames }], {
      status: 'awaiting_tool_result',
      breaker: { failures: 0, successes: 1 },
      toolCalls: [
        { name: 'read_file', arguments: { path: 'a.md' } },
        { name: 'list_files', arguments: { path: '.' } },
      ],
      rows: [{ role: 'assistant', content: null, toolNames: ['read_file', 'list_files'] }],
    });
  });

  it('a tool name and id repeated in every chunk', async () => {
    const part = (args: string) => tool({ index: 0, id: 'call_r', type: 'function', function: { name: 'read_file', arguments: args } });
    await c.check([{ frames: [part('{"pa'), part('th": "a.md"'), part('}'), chunk({}, 'tool_calls'), done] }], {
      status: 'awaiting_tool_result',
      breaker: { failures: 0, successes: 1 },
      toolCalls: [{ toolCallId: 'call_r', name: 'read_file', arguments: { path: 'a.md' } }],
      rows: [{ role: 'assistant', content: null, toolNames: ['read_file'] }],
    });
  });

  it('a tool name repeated in every chunk with neither `index` nor `id`: one call while its arguments are unfinished', async () => {
    const part = (args: string) => tool({ type: 'function', function: { name: 'read_file', arguments: args } });
    await c.check([{ frames: [part('{"pa'), part('th": "a.md"'), part('}'), chunk({}, 'tool_calls'), done] }], {
      status: 'awaiting_tool_result',
      breaker: { failures: 0, successes: 1 },
      toolCalls: [{ name: 'read_file', arguments: { path: 'a.md' } }],
      rows: [{ role: 'assistant', content: null, toolNames: ['read_file'] }],
    });
  });

  it('`length` on text: kept as interrupted, the turn fails with llm_output_truncated', async () => {
    await c.check(
      [
        {
          frames: [
            chunk({ content: 'The beginning of ' }),
            chunk({ content: 'a long' }, 'length'),
            usage({ prompt_tokens: 5, completion_tokens: 2 }),
            done,
          ],
        },
      ],
      {
        status: 'failed',
        breaker: { failures: 0, successes: 1 },
        code: 'llm_output_truncated',
        text: 'The beginning of a long',
        rows: [{ role: 'assistant', content: 'The beginning of a long', status: 'interrupted' }],
        turnError: /output limit/,
        usage: { prompt: 5, completion: 2 },
        errorType: 'incomplete_answer',
      },
    );
  });

  it('`length` in the middle of tool arguments: the call is not dispatched, nothing half-written is stored', async () => {
    const frames = [
      tool({ index: 0, id: 'call_t', type: 'function', function: { name: 'read_file', arguments: '{"path": "READ' } }),
      chunk({}, 'length'),
      done,
    ];
    await c.check([{ frames }], {
      status: 'failed',
      breaker: { failures: 0, successes: 0 },
      code: 'llm_output_truncated',
      rows: [],
      turnError: /tool call/,
      errorType: 'incomplete_answer',
    });
  });

  it('a stream cut without `[DONE]` nor finish_reason is not a complete answer', async () => {
    await c.check([{ frames: [chunk({ content: 'Half of ' }), chunk({ content: 'it' })] }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_error',
      rows: [{ role: 'assistant', content: 'Half of it', status: 'interrupted' }],
      turnError: /ended before the answer was complete/,
      errorType: 'connection',
    });
  });

  it('a connection dropped in the middle of the stream: not retried after its first tokens, the text kept as interrupted', async () => {
    await c.check([{ frames: [chunk({ content: 'Half of ' }), chunk({ content: 'it' })], cut: true }], {
      status: 'failed',
      breaker: { failures: 0, successes: 1 },
      code: 'llm_error',
      rows: [{ role: 'assistant', content: 'Half of it', status: 'interrupted' }],
      turnError: /broke off/,
      errorType: 'connection',
    });
  });

  it('`[DONE]` without a finish_reason is a complete answer', async () => {
    await c.check([{ frames: [chunk({ content: 'Short.' }), done] }], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      rows: [{ role: 'assistant', content: 'Short.' }],
    });
  });

  it('a non-streamed JSON answer to a streaming request', async () => {
    const completion = {
      id: 'chatcmpl-j',
      object: 'chat.completion',
      created: 0,
      model: 'm',
      choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'Whole answer at once.' } }],
      usage: { prompt_tokens: 9, completion_tokens: 4, total_tokens: 13 },
    };
    await c.check([{ contentType: 'application/json', frames: [JSON.stringify(completion)] }], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      text: 'Whole answer at once.',
      rows: [{ role: 'assistant', content: 'Whole answer at once.' }],
      usage: { prompt: 9, completion: 4 },
    });
  });

  it('partial usage objects: the fields that came are kept, the others are not reported', async () => {
    await c.check([{ frames: [chunk({ content: 'Counted.' }, 'stop'), usage({ completion_tokens: 3 }), done] }], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      rows: [{ role: 'assistant', content: 'Counted.' }],
      usage: { prompt: null, completion: 3 },
    });
  });

  it('usage repeated as a running total in every chunk is counted once', async () => {
    const running = (content: string, n: number, finish: string | null = null) =>
      chunk({ content }, finish, { usage: { prompt_tokens: 20, completion_tokens: n, total_tokens: 20 + n } });
    await c.check([{ frames: [running('One ', 1), running('two ', 2), running('three.', 3, 'stop'), done] }], {
      status: 'completed',
      breaker: { failures: 0, successes: 1 },
      rows: [{ role: 'assistant', content: 'One two three.' }],
      usage: { prompt: 20, completion: 3 },
    });
  });

  it('an empty answer is llm_empty_answer, and no empty assistant message enters the history', async () => {
    await c.check([{ frames: [chunk({ role: 'assistant', content: '' }), chunk({}, 'stop'), done] }], {
      status: 'failed',
      breaker: { failures: 0, successes: 0 },
      code: 'llm_empty_answer',
      rows: [],
      turnError: /answered nothing/,
      errorType: 'incomplete_answer',
    });
  });
});
