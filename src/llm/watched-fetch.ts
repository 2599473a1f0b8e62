import { AsyncLocalStorage } from 'node:async_hooks';

/** What one request wants to know about the bytes of its answer. */
export interface Watch {
  /** Every chunk of the body proves the provider alive, SSE comments and keep-alives included. */
  onAlive?: () => void;
}

const watches = new AsyncLocalStorage<Watch>();

/** Runs one SDK call with its watch: the SDK's fetch, called inside `call`, finds it. */
export function watched<T>(watch: Watch, call: () => Promise<T>): Promise<T> {
  return watches.run(watch, call);
}

/**
 * A `fetch` for an SDK client (Anthropic's) that lets the runtime see the raw answer: every body
 * chunk reaches the current request's watch before the SDK parses it (the SDK drops comments and
 * keep-alives silently).
 */
export function watchedFetch(): typeof fetch {
  return async (input, init) => {
    const watch = watches.getStore();
    const response = await fetch(input, init);
    if (!watch?.onAlive || !response.body) return response;
    const onAlive = watch.onAlive;
    const body = response.body.pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          onAlive();
          controller.enqueue(chunk);
        },
      }),
    );
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
