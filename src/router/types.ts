/**
 * Definitions a user registers with {@link McpRouter}: tools, resources,
 * resource templates, prompts, and the handler signatures. Shapes follow the
 * MCP schema (2025-11-25) so results pass through unchanged.
 */
import type { RequestContext } from './context.js';
import type { ContentBlock, ResourceContents } from './content.js';

export type { ContentBlock, ResourceContents } from './content.js';

/** A JSON Schema object (draft 2020-12 subset as MCP uses it). */
export type JsonSchema = Record<string, unknown>;

export interface ToolAnnotations {
  title?: string;
  readOnlyHint?: boolean;
  destructiveHint?: boolean;
  idempotentHint?: boolean;
  openWorldHint?: boolean;
}

export interface ToolDefinition {
  name: string;
  title?: string;
  description?: string;
  /** JSON Schema of `arguments`. Default `{ type: 'object' }`. */
  inputSchema?: JsonSchema;
  outputSchema?: JsonSchema;
  annotations?: ToolAnnotations;
  _meta?: Record<string, unknown>;
}

export interface CallToolResult {
  content: ContentBlock[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
  _meta?: Record<string, unknown>;
}

/**
 * A tool handler. Return a CallToolResult, a string (one text block), or any
 * other JSON value (a text block with its JSON, plus structuredContent when it
 * is an object). Throw {@link ToolError} for a result with isError; any other
 * throw answers -32603 with no detail sent to the client.
 */
export type ToolHandler = (
  args: Record<string, unknown>,
  ctx: RequestContext,
) => unknown; // CallToolResult, a string, any other value, or a promise of one

export interface ResourceDefinition {
  uri: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
  size?: number;
  annotations?: Record<string, unknown>;
}

/** Returns the contents, or a string (one text content with the resource's mimeType). */
export type ResourceHandler = (
  uri: string,
  ctx: RequestContext,
) => { contents: ResourceContents[] } | string | Promise<{ contents: ResourceContents[] } | string>;

export interface ResourceTemplateDefinition {
  /** RFC 6570 level-1 template, e.g. `demo://notes/{id}`. */
  uriTemplate: string;
  name: string;
  title?: string;
  description?: string;
  mimeType?: string;
}

export type ResourceTemplateHandler = (
  uri: string,
  variables: Record<string, string>,
  ctx: RequestContext,
) => { contents: ResourceContents[] } | string | Promise<{ contents: ResourceContents[] } | string>;

export interface PromptArgument {
  name: string;
  description?: string;
  required?: boolean;
}

export interface PromptDefinition {
  name: string;
  title?: string;
  description?: string;
  arguments?: PromptArgument[];
}

export interface PromptMessage {
  role: 'user' | 'assistant';
  content: ContentBlock;
}

export interface GetPromptResult {
  description?: string;
  messages: PromptMessage[];
}

/** Returns the prompt, a list of messages, or a string (one user text message). */
export type PromptHandler = (
  args: Record<string, string>,
  ctx: RequestContext,
) => GetPromptResult | PromptMessage[] | string | Promise<GetPromptResult | PromptMessage[] | string>;

export { LOG_LEVELS, type LogLevel } from './log-levels.js';

/** A tool handler throws this for a result with isError: true and this text. */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}

export { InputRequired, type InputRequest, type InputRequests, type RequireInputOptions } from './input.js';

/**
 * What `completion/complete` completes: a prompt's argument (by prompt
 * name) or a resource template's variable (by the template's `uriTemplate`,
 * as registered).
 */
export type CompletionRef = { type: 'ref/prompt'; name: string } | { type: 'ref/resource'; uri: string };

/** What the client already resolved: `context.arguments` of the request (strings only). */
export interface CompletionContext {
  readonly arguments: Readonly<Record<string, string>>;
}

/** The completion result: suggestions ranked by relevance (at most 100 are sent). */
export interface CompletionValues {
  values: string[];
  /** Total matches, when known (may exceed values.length). */
  total?: number;
  /** More matches exist than were sent. */
  hasMore?: boolean;
}

/**
 * Suggests values for one argument from what the user has typed so far.
 * Return the suggestions (a list: the first 100 are sent, `total` and
 * `hasMore` say how many there were) or a {@link CompletionValues}.
 * Throw RpcError for a specific JSON-RPC error; any other throw is -32603.
 */
export type CompletionHandler = (
  value: string,
  context: CompletionContext,
  ctx: RequestContext,
) => string[] | CompletionValues | Promise<string[] | CompletionValues>;
