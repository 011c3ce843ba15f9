/**
 * MRTR input (SEP-2322): what a handler asks the client for, and the
 * rejection that turns a 2026-07-28 request's answer into
 * `resultType: "input_required"`. Apart from types.ts so the request
 * context can use it without types.ts and context.ts importing each other.
 */

/**
 * One request of an MRTR `inputRequests` map (SEP-2322): what a tool, resource
 * or prompt handler asks the client for. `method` is `elicitation/create`,
 * `sampling/createMessage` or `roots/list`; `params` are that request's params.
 */
export interface InputRequest {
  method: 'elicitation/create' | 'sampling/createMessage' | 'roots/list';
  params?: Record<string, unknown>;
}

/** Server-assigned keys to the input requests they name. */
export type InputRequests = Record<string, InputRequest>;

/** Options of `RequestContext.requireInput`. */
export interface RequireInputOptions {
  /**
   * 2026-07-28 only: state of this handler for its next round, read back as
   * `ctx.requestState` on the retry. The router seals it (HMAC, bound to the
   * call, the identity and an expiry) before it goes to the client, and
   * refuses a retry whose state does not verify (-32602).
   */
  requestState?: string;
}

/**
 * Thrown (as a rejection of `ctx.requireInput`) when a 2026-07-28 request
 * needs input the client has not sent yet: the router answers the request
 * with `resultType: "input_required"`. Let it propagate out of the handler.
 * A handler may also throw one itself, e.g. with only a requestState.
 */
export class InputRequired extends Error {
  /** @internal Answers already given in this run, carried to the next round in the sealed requestState. */
  answers: Record<string, unknown> | undefined;

  constructor(
    readonly inputRequests: InputRequests | undefined,
    readonly requestState?: string,
  ) {
    super('input required');
    this.name = 'InputRequired';
  }
}
