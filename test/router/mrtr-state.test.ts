/**
 * MRTR requestState (2026-07-28, SEP-2322) in the native router: sealed,
 * bound to the call, the identity and an expiry, verified before any handler
 * runs; answers of earlier rounds carried in it. Over real sockets; hostile
 * cases first.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { McpRouter, type McpRouterOptions } from '../../src/router/router.js';
import { RawClient, closeAll, startServer } from '../helpers.js';

afterAll(closeAll);

const V = '2026-07-28';
const CAPS = { elicitation: {}, sampling: {}, roots: {} };
const META = { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': CAPS };
const accept = (content: Record<string, unknown>): Record<string, unknown> => ({ action: 'accept', content });
const ask = (message: string): { method: 'elicitation/create'; params: Record<string, unknown> } => ({
  method: 'elicitation/create',
  params: { message, requestedSchema: { type: 'object' } },
});

/** A router with a two-step tool, a confirming tool, a prompt and a resource that ask; counts handler runs. */
function mrtrRouter(options: Partial<McpRouterOptions> = {}): { router: McpRouter; runs: { n: number } } {
  const runs = { n: 0 };
  const router = new McpRouter({ name: 'mrtr-state', version: '1', ...options });
  router.tool({ name: 'two_steps', inputSchema: { type: 'object', properties: { order: { type: 'string' } } } }, async (_args, ctx) => {
    runs.n++;
    const { name } = await ctx.requireInput({ name: ask('name?') }, { requestState: 'after-name' });
    const { colour } = await ctx.requireInput({ colour: ask('colour?') }, { requestState: 'after-colour' });
    return { state: ctx.requestState, name: (name as any).content.name, colour: (colour as any).content.colour };
  });
  router.tool({ name: 'confirm' }, async (_args, ctx) => {
    runs.n++;
    const { ok } = await ctx.requireInput({ ok: ask('sure?') }, { requestState: 'confirm' });
    return { confirmed: (ok as any).action === 'accept' };
  });
  router.tool({ name: 'three_at_once' }, async (_args, ctx) => {
    runs.n++;
    const got = await ctx.requireInput({
      who: ask('who?'),
      model: { method: 'sampling/createMessage', params: { messages: [], maxTokens: 5 } },
      roots: { method: 'roots/list' },
    });
    return { keys: Object.keys(got).sort() };
  });
  router.prompt({ name: 'asks' }, async (_args, ctx) => {
    runs.n++;
    const { topic } = await ctx.requireInput({ topic: ask('topic?') }, { requestState: 'prompt' });
    return `about ${(topic as any).content.topic}`;
  });
  router.resource({ uri: 'demo://asks', name: 'asks' }, async (_uri, ctx) => {
    runs.n++;
    const { roots } = await ctx.requireInput({ roots: { method: 'roots/list' } });
    return `${(roots as any).roots.length} roots`;
  });
  return { router, runs };
}

describe('MRTR requestState: hostile retries', () => {
  let url: string;
  let runs: { n: number };
  beforeAll(async () => {
    const made = mrtrRouter();
    runs = made.runs;
    ({ url } = await startServer({ handler: made.router }));
  });

  it('refuses an altered, forged, truncated or oversized requestState with -32602 before the handler runs', async () => {
    const c = await RawClient.open(url);
    const p = { name: 'confirm', _meta: META };
    const first = await c.request('tools/call', p);
    const state: string = first.result.requestState;
    expect(state).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
    const [body, tag] = state.split('.') as [string, string];
    // The payload rewritten to name another handler state, with the old tag.
    const rewritten = Buffer.from(Buffer.from(body, 'base64url').toString().replace('"confirm"', '"admin"')).toString('base64url');
    const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
    const forged = [
      `${state}-TAMPERED`,
      `${rewritten}.${tag}`,
      `${flip(body, 3)}.${tag}`,
      `${body}.${flip(tag, 5)}`,
      `${body}.`,
      body,
      '.',
      '',
      'x'.repeat(200_000),
      `${body}.${tag}=`,
    ];
    const before = runs.n;
    for (const requestState of forged) {
      const r = await c.request('tools/call', { ...p, requestState, inputResponses: { ok: accept({}) } });
      expect(r.error?.code, requestState.slice(0, 40)).toBe(-32602);
      expect(r.error.message).toMatch(/requestState failed verification/);
    }
    expect(runs.n).toBe(before);
    // The genuine one still verifies.
    const ok = await c.request('tools/call', { ...p, requestState: state, inputResponses: { ok: accept({}) } });
    expect(ok.result.structuredContent).toEqual({ confirmed: true });
    c.close();
  });

  it('refuses a state presented on another tool, other arguments, another method, or a request that takes none', async () => {
    const c = await RawClient.open(url);
    const first = await c.request('tools/call', { name: 'two_steps', arguments: { order: 'a' }, _meta: META });
    const requestState: string = first.result.requestState;
    const name = { name: accept({ name: 'Ada' }) };
    const elsewhere: Array<[string, Record<string, unknown>]> = [
      ['tools/call', { name: 'confirm', requestState, inputResponses: name }],
      ['tools/call', { name: 'two_steps', arguments: { order: 'b' }, requestState, inputResponses: name }],
      ['prompts/get', { name: 'asks', requestState, inputResponses: name }],
      ['resources/read', { uri: 'demo://asks', requestState }],
      ['tools/list', { requestState }],
    ];
    for (const [method, params] of elsewhere) {
      const r = await c.request(method, { ...params, _meta: META });
      expect(r.error?.code, `${method} ${JSON.stringify(params).slice(0, 60)}`).toBe(-32602);
    }
    // Key order of the arguments does not matter: the digest is of canonical JSON.
    const same = await c.request('tools/call', { arguments: { order: 'a' }, name: 'two_steps', requestState, inputResponses: name, _meta: META });
    expect(same.result.resultType).toBe('input_required');
    c.close();
  });

  it('refuses an inputResponses entry that is not a result of the method asked (-32602), ignores keys not asked', async () => {
    const c = await RawClient.open(url);
    const p = { name: 'three_at_once', _meta: META };
    const bad = [
      { who: 12345 },
      { who: null },
      { who: { action: 'maybe' } },
      { who: { action: 'accept', content: 'Ada' } },
      { model: { role: 'assistant' } },
      { roots: { roots: 'file:///' } },
    ];
    for (const inputResponses of bad) {
      const r = await c.request('tools/call', { ...p, inputResponses });
      expect(r.error?.code, JSON.stringify(inputResponses)).toBe(-32602);
    }
    expect((await c.request('tools/call', { ...p, inputResponses: null })).error.code).toBe(-32602);
    // Several requests at once, all answered, plus keys never asked: complete, the extras ignored.
    const extra: Record<string, unknown> = { who: accept({ name: 'Ada' }), model: { role: 'assistant', content: { type: 'text', text: 'hi' } }, roots: { roots: [] } };
    for (let i = 0; i < 1000; i++) extra[`junk${i}`] = { action: 'accept', content: { pad: 'x'.repeat(50) } };
    const done = await c.request('tools/call', { ...p, inputResponses: extra });
    expect(done.result.structuredContent).toEqual({ keys: ['model', 'roots', 'who'] });
    c.close();
  });

  it('does not carry keys it never asked for, and refuses answers too large to carry (maxRequestStateBytes)', async () => {
    const made = mrtrRouter({ maxRequestStateBytes: 4096 });
    const { url: small } = await startServer({ handler: made.router });
    const c = await RawClient.open(small);
    const p = { name: 'two_steps', _meta: META };
    const first = await c.request('tools/call', p);
    const lean = await c.request('tools/call', { ...p, requestState: first.result.requestState, inputResponses: { name: accept({ name: 'Ada' }) } });
    const junk: Record<string, unknown> = { name: accept({ name: 'Ada' }) };
    for (let i = 0; i < 200; i++) junk[`junk${i}`] = accept({ pad: 'x'.repeat(20) });
    const padded = await c.request('tools/call', { ...p, requestState: first.result.requestState, inputResponses: junk });
    expect(padded.result.resultType).toBe('input_required');
    expect(padded.result.requestState.length).toBe(lean.result.requestState.length);
    // One asked-for answer of 100 KB cannot be carried to the next round.
    const huge = await c.request('tools/call', { ...p, requestState: first.result.requestState, inputResponses: { name: accept({ name: 'x'.repeat(100_000) }) } });
    expect(huge.error.code).toBe(-32602);
    expect(huge.error.message).toMatch(/4096/);
    c.close();
  });

  it('refuses a state past its expiry (requestStateTtlMs)', async () => {
    const made = mrtrRouter({ requestStateTtlMs: 1 });
    const { url: quick } = await startServer({ handler: made.router });
    const c = await RawClient.open(quick);
    const first = await c.request('tools/call', { name: 'confirm', _meta: META });
    await new Promise((r) => setTimeout(r, 30));
    const late = await c.request('tools/call', { name: 'confirm', requestState: first.result.requestState, inputResponses: { ok: accept({}) }, _meta: META });
    expect(late.error.code).toBe(-32602);
    c.close();
  });

  it("refuses a state issued to another identity; the issuing identity's retry verifies", async () => {
    const made = mrtrRouter();
    const { url: authed } = await startServer({
      handler: made.router,
      auth: { tokens: [{ token: 'alice-token-0123456789abcdef', subject: 'alice' }, { token: 'bob-token-0123456789abcdef01', subject: 'bob' }] },
    });
    const alice = await RawClient.open(authed, ['mcp'], { headers: { Authorization: 'Bearer alice-token-0123456789abcdef' } });
    const bob = await RawClient.open(authed, ['mcp'], { headers: { Authorization: 'Bearer bob-token-0123456789abcdef01' } });
    const first = await alice.request('tools/call', { name: 'confirm', _meta: META });
    const retry = { name: 'confirm', requestState: first.result.requestState, inputResponses: { ok: accept({}) }, _meta: META };
    expect((await bob.request('tools/call', retry)).error.code).toBe(-32602);
    expect((await alice.request('tools/call', retry)).result.structuredContent).toEqual({ confirmed: true });
    alice.close();
    bob.close();
  });

  it('verifies only under the secret that sealed it: another process with its own secret refuses, one sharing it accepts', async () => {
    const secret = 'a shared secret of at least 32 bytes!';
    const a = await startServer({ handler: mrtrRouter({ requestStateSecret: secret }).router });
    const b = await startServer({ handler: mrtrRouter({ requestStateSecret: secret }).router });
    const other = await startServer({ handler: mrtrRouter().router });
    const ca = await RawClient.open(a.url);
    const first = await ca.request('tools/call', { name: 'confirm', _meta: META });
    const retry = { name: 'confirm', requestState: first.result.requestState, inputResponses: { ok: accept({}) }, _meta: META };
    const cb = await RawClient.open(b.url);
    expect((await cb.request('tools/call', retry)).result.structuredContent).toEqual({ confirmed: true });
    const co = await RawClient.open(other.url);
    expect((await co.request('tools/call', retry)).error.code).toBe(-32602);
    expect(() => new McpRouter({ name: 'x', version: '1', requestStateSecret: 'short' })).toThrow(RangeError);
    for (const c of [ca, cb, co]) c.close();
  });
});

describe('MRTR requestState: rounds', () => {
  let url: string;
  beforeAll(async () => ({ url } = await startServer({ handler: mrtrRouter().router })));

  it('asks in two steps: round 3 completes with the first answer carried in the state, not resent', async () => {
    const c = await RawClient.open(url);
    const p = { name: 'two_steps', _meta: META };
    const r1 = await c.request('tools/call', p);
    expect(Object.keys(r1.result.inputRequests)).toEqual(['name']);
    const r2 = await c.request('tools/call', { ...p, requestState: r1.result.requestState, inputResponses: { name: accept({ name: 'Ada' }) } });
    expect(Object.keys(r2.result.inputRequests)).toEqual(['colour']);
    expect(r2.result.requestState).not.toBe(r1.result.requestState);
    const r3 = await c.request('tools/call', { ...p, requestState: r2.result.requestState, inputResponses: { colour: accept({ colour: 'blue' }) } });
    expect(r3.result).toMatchObject({ resultType: 'complete', structuredContent: { state: 'after-colour', name: 'Ada', colour: 'blue' } });
    // Not single-use: within its expiry the same caller may present a state again (the spec's replay bound).
    const again = await c.request('tools/call', { ...p, requestState: r2.result.requestState, inputResponses: { colour: accept({ colour: 'red' }) } });
    expect(again.result.structuredContent.colour).toBe('red');
    c.close();
  });

  it('prompts/get and resources/read answer input_required too, and complete on the retry', async () => {
    const c = await RawClient.open(url);
    const g1 = await c.request('prompts/get', { name: 'asks', _meta: META });
    expect(g1.result).toMatchObject({ resultType: 'input_required', inputRequests: { topic: { method: 'elicitation/create' } } });
    const g2 = await c.request('prompts/get', { name: 'asks', requestState: g1.result.requestState, inputResponses: { topic: accept({ topic: 'tea' }) }, _meta: META });
    expect(g2.result).toMatchObject({ resultType: 'complete', messages: [{ role: 'user', content: { type: 'text', text: 'about tea' } }] });
    const r1 = await c.request('resources/read', { uri: 'demo://asks', _meta: META });
    expect(r1.result).toMatchObject({ resultType: 'input_required', inputRequests: { roots: { method: 'roots/list' } } });
    expect(r1.result.requestState).toBeUndefined(); // nothing to carry: no state issued
    const r2 = await c.request('resources/read', { uri: 'demo://asks', inputResponses: { roots: { roots: [{ uri: 'file:///a' }] } }, _meta: META });
    expect(r2.result.contents[0].text).toBe('1 roots');
    c.close();
  });

  it('asks only for what is missing when several are requested at once, capability by capability', async () => {
    const c = await RawClient.open(url);
    const r = await c.request('tools/call', { name: 'three_at_once', inputResponses: { roots: { roots: [] } }, _meta: META });
    expect(Object.keys(r.result.inputRequests).sort()).toEqual(['model', 'who']);
    const noSampling = await c.request('tools/call', {
      name: 'three_at_once',
      _meta: { ...META, 'io.modelcontextprotocol/clientCapabilities': { elicitation: {}, roots: {} } },
    });
    expect(noSampling.error).toMatchObject({ code: -32021, data: { requiredCapabilities: { sampling: {} } } });
    c.close();
  });
});
