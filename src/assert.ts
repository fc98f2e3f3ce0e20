/**
 * Assertions are for programmer errors: a broken invariant crashes loudly (and answers 500)
 * instead of moving money on a wrong assumption. Operating errors use ApiError instead.
 */
export class AssertionError extends Error {
  override name = "AssertionError";
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
