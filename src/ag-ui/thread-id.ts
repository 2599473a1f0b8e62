import { validate as isUuid, v5 as uuidV5 } from 'uuid';

/** Fixed namespace for the ids of threads that clients name with something other than a UUID. */
const THREAD_NAMESPACE = '6f0c1f9e-4a53-4d0e-9b7a-2f4f0b8e51c3';

/**
 * The session behind an AG-UI thread. A UUID threadId is the session id itself, so the native routes
 * see the same conversation. Any other string (CopilotKit's `ck-…`, `thread-1`) names a session whose
 * id is derived from the caller's owner and that string: the same key always reaches the same
 * session, and another key using the same string gets a thread of its own.
 */
export function sessionIdOf(owner: string, threadId: string): string {
  if (isUuid(threadId)) return threadId.toLowerCase();
  return uuidV5(threadId, uuidV5(owner, THREAD_NAMESPACE));
}
