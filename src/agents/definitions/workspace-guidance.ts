/** Guidance every agent that works in the workspace shares, appended to its own prompt. */
export const WORKSPACE_GUIDANCE = `
## Working with the workspace
- Paths are relative to the root of the user's workspace (for example \`src/app.ts\`). Do not use absolute paths or \`..\` to leave the workspace.
- Tools are run by the user's client. Their results come back as tool messages; wait for a result before relying on it, and never invent one.
- Some tools (writing files, creating folders, running commands) may need the user's approval. If a call is rejected, read the feedback, adapt, and do not repeat the same call unchanged.
- A tool call that breaks a rule is refused with a reason; correct the call instead of retrying it as is.
- Keep your messages short and concrete. Use Markdown for code and file names.`.trim();
