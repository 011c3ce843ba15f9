/**
 * Result shaping for the native router: JSON-RPC success frames, list pages
 * and their cursors, and the normalisation of what a tool, resource or prompt
 * handler returns into the MCP result shape.
 */
import { RpcError } from '../protocol/errors.js';
import { INVALID_PARAMS, type RequestId } from '../protocol/jsonrpc.js';
import type {
  CallToolResult,
  CompletionValues,
  GetPromptResult,
  PromptDefinition,
  PromptMessage,
  ResourceContents,
} from './types.js';

/** The lists a client pages through. */
export type ListKind = 'tools' | 'resources' | 'resources/templates' | 'prompts';

const LIST_KEY: Record<ListKind, string> = {
  tools: 'tools',
  resources: 'resources',
  'resources/templates': 'resourceTemplates',
  prompts: 'prompts',
};

/**
 * The offset a list cursor stands for. Cursors are opaque to clients:
 * base64url of "o:<offset>". Anything else is refused with -32602.
 */
export function cursorOffset(cursor: unknown): number {
  if (typeof cursor !== 'string') throw new RpcError(INVALID_PARAMS, 'Invalid cursor');
  const decoded = Buffer.from(cursor, 'base64url').toString();
  const offset = /^o:\d{1,15}$/.test(decoded) ? Number(decoded.slice(2)) : -1;
  if (offset < 0) throw new RpcError(INVALID_PARAMS, 'Invalid params: invalid cursor');
  return offset;
}

/** The serialised result of one page of a list: `{"tools":[…],"nextCursor":"…"}`. */
export function pageJson(kind: ListKind, all: readonly unknown[], offset: number, size: number): string {
  const items = all.slice(offset, offset + size);
  const result: Record<string, unknown> = { [LIST_KEY[kind]]: items };
  if (offset + size < all.length) result.nextCursor = Buffer.from(`o:${offset + size}`).toString('base64url');
  return JSON.stringify(result);
}

/** A JSON-RPC success frame around an already serialised result. */
export function success(id: RequestId, resultJson: string): string {
  return `{"jsonrpc":"2.0","id":${typeof id === 'number' ? id : JSON.stringify(id)},"result":${resultJson}}`;
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** What a tool handler returned, as a CallToolResult (see ToolHandler). */
export function toToolResult(out: unknown): CallToolResult {
  if (typeof out === 'string') return { content: [{ type: 'text', text: out }] };
  if (out === undefined || out === null) return { content: [] };
  if (typeof out === 'object' && Array.isArray((out as CallToolResult).content)) return out as CallToolResult;
  const text = JSON.stringify(out);
  if (typeof out === 'object' && !Array.isArray(out)) {
    return { content: [{ type: 'text', text }], structuredContent: out as Record<string, unknown> };
  }
  return { content: [{ type: 'text', text }] };
}

/** A tool result with isError: true and this text. */
export function toolErrorResult(message: string): CallToolResult {
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** What a resource handler returned, as a resources/read result. */
export function toReadResult(uri: string, mimeType: string | undefined, out: unknown): { contents: ResourceContents[] } {
  if (typeof out === 'string') {
    return { contents: [mimeType === undefined ? { uri, text: out } : { uri, mimeType, text: out }] };
  }
  if (isObject(out) && Array.isArray(out.contents)) return out as { contents: ResourceContents[] };
  throw new TypeError(`resource handler for ${uri} returned neither a string nor { contents }`);
}

/** What a prompt handler returned, as a prompts/get result. */
export function toPromptResult(def: PromptDefinition, out: unknown): GetPromptResult {
  if (typeof out === 'string') return { messages: [{ role: 'user', content: { type: 'text', text: out } }] };
  if (Array.isArray(out)) return { messages: out as PromptMessage[] };
  if (isObject(out) && Array.isArray(out.messages)) return out as unknown as GetPromptResult;
  throw new TypeError(`prompt handler for ${def.name} returned neither a string, messages nor { messages }`);
}

/** Most completion values one result carries (the spec's limit). */
export const MAX_COMPLETION_VALUES = 100;

/** What a completion handler returned, as a completion/complete result. */
export function toCompletionResult(out: unknown): { completion: CompletionValues } {
  const given: unknown = Array.isArray(out) ? { values: out } : out;
  if (!isObject(given) || !Array.isArray(given.values) || !given.values.every((v) => typeof v === 'string')) {
    throw new TypeError('completion handler returned neither a list of strings nor { values: string[] }');
  }
  const values = given.values as string[];
  const completion: CompletionValues = { values: values.length > MAX_COMPLETION_VALUES ? values.slice(0, MAX_COMPLETION_VALUES) : values };
  const total = typeof given.total === 'number' && Number.isInteger(given.total) && given.total >= 0 ? given.total : Array.isArray(out) ? values.length : undefined;
  if (total !== undefined) completion.total = total;
  const hasMore = given.hasMore === true || values.length > MAX_COMPLETION_VALUES || (total !== undefined && total > completion.values.length);
  completion.hasMore = hasMore;
  return { completion };
}
