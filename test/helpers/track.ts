/**
 * Following promises without awaiting them: the lock tests start requests that wait, then
 * check which have settled and how, after letting settled promises run their callbacks.
 */

/** Lets settled promises run their callbacks. */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface Tracked {
  settled: boolean;
  error: unknown;
}

/** Follows a request's promise without awaiting it. */
export function track(promise: Promise<void>): Tracked {
  const tracked: Tracked = { settled: false, error: undefined };
  promise.then(
    () => (tracked.settled = true),
    (error: unknown) => {
      tracked.settled = true;
      tracked.error = error;
    },
  );
  return tracked;
}

/** What a granted request's tracking looks like. */
export const granted = { settled: true, error: undefined };
