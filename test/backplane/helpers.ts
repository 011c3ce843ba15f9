/**
 * What the backplane tests share: a WebSocket MCP peer that records every
 * message, and a redis-server of the test's own on a free loopback port
 * (so "Redis killed" and "Redis slow" never touch the shared server).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { WebSocket } from 'ws';

/** Polls `done` every 20 ms for at most `ms`; resolves whether it became true. */
export async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited <= ms; waited += 20) {
    if (done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return done();
}

/** A free TCP port on 127.0.0.1 (nothing listens on it once this resolves). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}


/** An MCP client over a raw WebSocket that keeps every message it received. */
export class Peer {
  readonly messages: any[] = [];
  private nextId = 1;
  private readonly waiting = new Map<string | number, (m: any) => void>();
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      let m: any;
      try {
        m = JSON.parse((data as Buffer).toString());
      } catch {
        return;
      }
      this.messages.push(m);
      if (m.id !== undefined && (m.result !== undefined || m.error !== undefined)) this.waiting.get(m.id)?.(m);
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  /** Opens a socket; with `version` a 2025 revision, initializes it. */
  static async open(url: string, version: string | undefined = '2025-11-25'): Promise<Peer> {
    const ws = new WebSocket(url, ['mcp']);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const p = new Peer(ws);
    if (version !== undefined) {
      const r = await p.request('initialize', { protocolVersion: version, capabilities: {}, clientInfo: { name: 'test', version: '1' } });
      if (!r.result) throw new Error(`initialize failed: ${JSON.stringify(r)}`);
      p.send({ jsonrpc: '2.0', method: 'notifications/initialized' });
    }
    return p;
  }

  send(msg: unknown): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** Sends a request and resolves with its response (rejects after `timeoutMs`). */
  request(method: string, params?: unknown, timeoutMs = 30_000): Promise<any> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no answer to ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, (m) => {
        clearTimeout(t);
        this.waiting.delete(id);
        resolve(m);
      });
      this.send(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params });
    });
  }

  /** Notifications received with this method (and, when given, matching `where`). */
  notes(method: string, where: (params: any) => boolean = () => true): any[] {
    return this.messages.filter((m) => m.method === method && m.id === undefined && where(m.params));
  }

  /** Waits until `count` notifications of `method` (matching `where`) arrived; false after `ms`. */
  waitNotes(method: string, count: number, ms = 20_000, where?: (params: any) => boolean): Promise<boolean> {
    return waitFor(() => this.notes(method, where).length >= count, ms);
  }

  /** The session id, from the `whoami` tool the tests' routers add. */
  async sessionId(): Promise<string> {
    const r = await this.request('tools/call', { name: 'whoami', arguments: {} });
    return r.result.content[0].text as string;
  }

  close(): void {
    this.ws.close();
  }
}

/** A redis-server of the test's own, on a free loopback port, without persistence. */
export class OwnRedis {
  child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  static async start(): Promise<OwnRedis> {
    const r = new OwnRedis(await freePort());
    await r.start();
    return r;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Starts (or restarts, on the same port) and resolves once it accepts connections. */
  async start(): Promise<void> {
    const child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    let out = '';
    const ready = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 20_000);
      child.stdout!.on('data', (d) => {
        out += d;
        if (/ready to accept connections/i.test(out)) {
          clearTimeout(t);
          resolve(true);
        }
      });
      child.once('exit', () => {
        clearTimeout(t);
        resolve(false);
      });
    });
    if (!ready) throw new Error(`redis-server on port ${this.port} did not start: ${out.slice(-500)}`);
  }

  /** SIGKILL: Redis vanishes without a goodbye. */
  async kill(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }
}
