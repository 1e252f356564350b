// What went wrong, from a Temporal failure chain. Pure: workflow code uses it.

/** The innermost message of an activity/child failure chain (what actually went wrong). */
export function failureMessage(err: unknown): string {
  let e: unknown = err;
  let msg = err instanceof Error ? err.message : String(err);
  while (e instanceof Error && e.cause instanceof Error) {
    e = e.cause;
    if (e instanceof Error && e.message) msg = e.message;
  }
  return msg;
}
