import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, run, serve, type Serving } from './run.js';

const dir = mkdtempSync(join(tmpdir(), 'mcp-ws-cli-sec-'));
const running: Serving[] = [];
afterAll(() => {
  for (const s of running) s.child.kill('SIGKILL');
});
const TOKEN = 'file-token-abcdefghijklmnop';

describe('serve with authentication from the command line', () => {
  it('reads tokens from --auth-token-file; call passes the header', async () => {
    const file = join(dir, 'tokens.txt');
    writeFileSync(file, `# one per line\n${TOKEN}\n`);
    const s = await serve(['--port', '0', '--auth-token-file', file]);
    running.push(s);
    const denied = await run(['call', s.url, 'ping']);
    expect(denied.code).toBe(1);
    expect(denied.stderr.trim()).toMatch(/HTTP 401/);
    const ok = await run(['call', s.url, 'ping', '-H', `Authorization: Bearer ${TOKEN}`]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({});
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
  });

  it('reads tokens from $MCP_WS_AUTH_TOKENS so they stay out of ps', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
      env: { ...process.env, MCP_WS_AUTH_TOKENS: `${TOKEN},another-token-0123456789` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /(ws:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on('close', (code) => reject(new Error(`exited ${code}`)));
    });
    const ok = await run(['call', url, 'ping', '-H', 'Authorization: Bearer another-token-0123456789']);
    expect(ok.code).toBe(0);
    expect((await run(['call', url, 'ping'])).code).toBe(1);
    child.kill('SIGTERM');
  });

  it('never writes a credential into a log line, even at trace level', async () => {
    const file = join(dir, 'tokens-trace.txt');
    writeFileSync(file, `${TOKEN}\n`);
    const s = await serve(['--port', '0', '--auth-token-file', file, '--log-level', 'trace']);
    running.push(s);
    await run(['call', s.url, 'ping', '-H', `Authorization: Bearer ${TOKEN}`]);
    await run(['call', s.url, 'ping', '-H', 'Authorization: Bearer wrong-token-but-long-enough-000']);
    await run(['call', `${s.url}?access_token=${TOKEN}`, 'ping']);
    s.child.kill('SIGTERM');
    expect(await s.exit).toBe(0);
    expect(s.stderr()).toMatch(/upgrade rejected/);
    expect(s.stderr()).not.toContain(TOKEN);
    expect(s.stderr()).not.toContain('wrong-token-but-long-enough-000');
  });

  it('rejects a short token in one line', async () => {
    const r = await run(['serve', '--port', '0', '--auth-token', 'short']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("mcp-ws: flags: auth.tokens.0 should be at least 16 characters");
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('names an unknown nested setting with a suggestion', async () => {
    const file = join(dir, 'nested.json');
    writeFileSync(file, JSON.stringify({ auth: { token: ['x'] } }));
    const r = await run(['serve', '--config', file]);
    expect(r.stderr.trim()).toMatch(/unknown setting "auth\.token" — did you mean "auth\.tokens"\?/);
  });
});
