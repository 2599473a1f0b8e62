/**
 * The tools agents may call, as OpenAI function specs. Client-run tools are executed by the IDE
 * or web client in its workspace (the runtime only relays them); runtime-run tools are handled by
 * the turn runner itself.
 */

export const CLIENT_TOOL_NAMES = [
  'read_file',
  'write_file',
  'list_files',
  'create_directory',
  'execute_command',
  'search_in_code',
] as const;
export const RUNTIME_TOOL_NAMES = ['switch_mode', 'attempt_completion', 'ask_followup_question'] as const;
export const TOOL_NAMES = [...CLIENT_TOOL_NAMES, ...RUNTIME_TOOL_NAMES] as const;

export type ClientToolName = (typeof CLIENT_TOOL_NAMES)[number];
export type RuntimeToolName = (typeof RUNTIME_TOOL_NAMES)[number];
export type ToolName = ClientToolName | RuntimeToolName;

/** The agents `switch_mode` may name; `universal` is never a target (it runs alone). */
export const SWITCHABLE_AGENT_TYPES = ['orchestrator', 'coder', 'architect', 'debug', 'ask'] as const;

export interface ToolParameters {
  type: 'object';
  properties: Record<string, Record<string, unknown>>;
  required: string[];
  additionalProperties: false;
}

/** Structurally an OpenAI `ChatCompletionFunctionTool`. */
export interface ToolSpec {
  type: 'function';
  function: { name: ToolName; description: string; parameters: ToolParameters };
}

/** Longest workspace path accepted; longer ones are an LLM looping, not a real file. */
const PATH_MAX = 4096;

const pathProperty = (description: string) => ({ type: 'string', minLength: 1, maxLength: PATH_MAX, description });

function spec(name: ToolName, description: string, properties: ToolParameters['properties'], required: string[]): ToolSpec {
  return {
    type: 'function',
    function: { name, description, parameters: { type: 'object', properties, required, additionalProperties: false } },
  };
}

export const TOOL_SPECS: Readonly<Record<ToolName, ToolSpec>> = {
  read_file: spec(
    'read_file',
    'Read a text file from the workspace and return its content.',
    { path: pathProperty('File path relative to the workspace root.') },
    ['path'],
  ),
  write_file: spec(
    'write_file',
    'Create or overwrite a file in the workspace with the given content. Write the whole file, not a fragment.',
    {
      path: pathProperty('File path relative to the workspace root.'),
      content: { type: 'string', maxLength: 500_000, description: 'The complete new content of the file.' },
    },
    ['path', 'content'],
  ),
  list_files: spec(
    'list_files',
    'List the files and folders under a workspace folder.',
    {
      path: pathProperty('Folder path relative to the workspace root; "." for the root.'),
      recursive: { type: 'boolean', description: 'Also list the content of sub-folders. Default false.' },
    },
    ['path'],
  ),
  create_directory: spec(
    'create_directory',
    'Create a folder (and any missing parent folders) in the workspace.',
    { path: pathProperty('Folder path relative to the workspace root.') },
    ['path'],
  ),
  execute_command: spec(
    'execute_command',
    'Run a shell command in the workspace and return its exit code and output. Prefer short, non-interactive commands.',
    {
      command: { type: 'string', minLength: 1, maxLength: 8000, description: 'The command line to run.' },
      cwd: pathProperty('Folder to run it in, relative to the workspace root. Default: the root.'),
    },
    ['command'],
  ),
  search_in_code: spec(
    'search_in_code',
    'Search the workspace files for a text or regular expression and return the matching lines with their file and line number.',
    {
      query: { type: 'string', minLength: 1, maxLength: 1000, description: 'Text or regular expression to look for.' },
      path: pathProperty('Limit the search to this folder or file, relative to the workspace root.'),
    },
    ['query'],
  ),
  switch_mode: spec(
    'switch_mode',
    'Hand the conversation over to another agent that is better suited to the task. The other agent continues from here.',
    {
      agent: { type: 'string', enum: [...SWITCHABLE_AGENT_TYPES], description: 'The agent to hand over to.' },
      reason: { type: 'string', minLength: 1, maxLength: 1000, description: 'Why that agent should take over; it reads this.' },
    },
    ['agent', 'reason'],
  ),
  attempt_completion: spec(
    'attempt_completion',
    'Finish the task: report to the user what was done and its outcome. Call it only once the work is really done.',
    { result: { type: 'string', minLength: 1, maxLength: 20_000, description: 'A concise summary of the result for the user.' } },
    ['result'],
  ),
  ask_followup_question: spec(
    'ask_followup_question',
    'Ask the user a question when the task cannot go on without their answer. The turn stops until they reply.',
    {
      question: { type: 'string', minLength: 1, maxLength: 2000, description: 'One clear question.' },
      suggestions: {
        type: 'array',
        items: { type: 'string', minLength: 1, maxLength: 500 },
        maxItems: 6,
        description: 'Likely answers the user can pick from.',
      },
    },
    ['question'],
  ),
};

/** The arguments of each tool that name a workspace path, checked against restrictions and traversal. */
export const PATH_ARGUMENTS: Readonly<Partial<Record<ToolName, readonly string[]>>> = {
  read_file: ['path'],
  write_file: ['path'],
  list_files: ['path'],
  create_directory: ['path'],
  execute_command: ['cwd'],
  search_in_code: ['path'],
};

export function isToolName(name: string): name is ToolName {
  return (TOOL_NAMES as readonly string[]).includes(name);
}

/** The client must run it: the turn emits `tool_call` and waits for `POST .../tool-results`. */
export function isClientTool(name: string): name is ClientToolName {
  return (CLIENT_TOOL_NAMES as readonly string[]).includes(name);
}

/** The turn runner handles it itself. */
export function isRuntimeTool(name: string): name is RuntimeToolName {
  return (RUNTIME_TOOL_NAMES as readonly string[]).includes(name);
}
