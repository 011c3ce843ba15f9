/**
 * Bounds of a session's resource subscriptions (`resources/subscribe`).
 *
 * A subscription costs memory per session (and, for a shared upstream or a
 * resume store, work per subscription), so one client cannot hold an
 * unbounded number of them nor name a URI of unbounded length. Both the
 * native router and the gateway's shared sessions refuse past these bounds
 * with -32602, naming the bound.
 */

/** Distinct URIs one session may be subscribed to at once. */
export const MAX_SUBSCRIPTIONS_PER_SESSION = 1024;

/** Longest URI a subscription may name, in UTF-16 code units (the backplane carries at most 8192). */
export const MAX_SUBSCRIPTION_URI_LENGTH = 8192;

/** Why a new subscription to `uri` is refused when `count` are held already, or undefined when it may go on. */
export function subscriptionLimit(uri: string, count: number): string | undefined {
  if (uri.length > MAX_SUBSCRIPTION_URI_LENGTH) return `Invalid params: uri is longer than ${MAX_SUBSCRIPTION_URI_LENGTH} characters`;
  if (count >= MAX_SUBSCRIPTIONS_PER_SESSION) return `Invalid params: a session may hold at most ${MAX_SUBSCRIPTIONS_PER_SESSION} subscriptions; unsubscribe first`;
  return undefined;
}
