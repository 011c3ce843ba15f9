/**
 * What the Redis tests share: where Redis is (REDIS_URL, default
 * 127.0.0.1:6379), whether it must be there (REQUIRE_REDIS=1 makes its
 * absence a failure, as in CI), a key prefix unique to this run, a TCP proxy
 * that plays "Redis stopped" and "Redis hung" without touching the shared
 * server, and a build of src/ratelimit that child processes can import.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import ts from 'typescript';

/** The Redis the tests use. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** When true, a missing Redis fails the tests instead of skipping them. */
export const REDIS_REQUIRED = process.env.REQUIRE_REDIS === '1';

/** A key prefix no other run (or test file) shares. */
export function uniquePrefix(name: string): string {
  return `mcp-ws-test:${name}:${process.pid}:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:`;
}

/** True when a Redis answers PING at `url` within a second. */
export async function probeRedis(url = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

/** Prints why the Redis tests are skipped, loudly enough to be seen in a passing run. */
export function warnSkipped(): void {
  const line = '!'.repeat(78);
  console.warn(
    `\n${line}\n!! Redis store tests SKIPPED: no Redis answers at ${REDIS_URL}.\n` +
      `!! Start one (redis-server) or set REDIS_URL; CI sets REQUIRE_REDIS=1 to fail instead.\n${line}\n`,
  );
}

/** Deletes every key under `prefix`. */
export async function deleteKeys(prefix: string, url = REDIS_URL): Promise<number> {
  const client = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = '0';
    let deleted = 0;
    for (let round = 0; round < 10_000; round++) {
      const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      if (keys.length > 0) deleted += await client.del(...keys);
      cursor = next;
      if (cursor === '0') break;
    }
    return deleted;
  } finally {
    client.disconnect();
  }
}

/** The URL of `base` with its host and port replaced (credentials and db kept). */
export function urlVia(port: number, base = REDIS_URL): string {
  const u = new URL(base);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}

/**
 * A loopback TCP proxy in front of Redis. stop() drops every connection and
 * stops listening ("Redis stopped"); start() listens again on the same port;
 * hang() holds Redis's replies back ("Redis hung") until release() sends
 * them on, in order.
 */
export class TcpProxy {
  port = 0;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly held: Array<{ to: Socket; data: Buffer }> = [];
  private hung = false;

  constructor(private readonly target = new URL(REDIS_URL)) {}

  /** Listens on 127.0.0.1 (the same port as before, after a stop). */
  async start(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
  }

  /** Destroys every connection and stops listening. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Holds back everything Redis sends. */
  hang(): void {
    this.hung = true;
  }

  /** Sends on what was held back, and stops holding. */
  release(): void {
    this.hung = false;
    for (const { to, data } of this.held.splice(0)) if (!to.destroyed) to.write(data);
  }

  private accept(client: Socket): void {
    const upstream = connect(Number(this.target.port || 6379), this.target.hostname === 'localhost' ? '127.0.0.1' : this.target.hostname);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const drop = (): void => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (data: Buffer) => upstream.write(data));
    upstream.on('data', (data: Buffer) => {
      if (this.hung) this.held.push({ to: client, data });
      else client.write(data);
    });
  }
}

/** Polls `done` every 20 ms for at most `ms`; resolves whether it became true. */
export async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  for (let waited = 0; waited <= ms; waited += 20) {
    if (done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return done();
}

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Transpiles src/ratelimit, and src/config whose option declarations it
 * imports, to plain ESM under node_modules/.cache (where `ioredis` and `zod`
 * resolve) so a child `node` process runs the very same store code. Returns
 * the directory of the rate-limit modules; remove the build with
 * {@link removeBuild}.
 */
export function buildRateLimitForChildren(): string {
  const out = join(here, '..', '..', 'node_modules', '.cache', `mcp-ws-ratelimit-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'package.json'), '{"type":"module"}\n');
  for (const folder of ['ratelimit', 'config']) {
    const srcDir = join(here, '..', '..', 'src', folder);
    mkdirSync(join(out, folder));
    for (const file of readdirSync(srcDir)) {
      if (!file.endsWith('.ts')) continue;
      const { outputText } = ts.transpileModule(readFileSync(join(srcDir, file), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
        fileName: file,
      });
      writeFileSync(join(out, folder, file.replace(/\.ts$/, '.js')), outputText);
    }
  }
  return join(out, 'ratelimit');
}

/** Removes a build made by {@link buildRateLimitForChildren}. */
export function removeBuild(dir: string): void {
  rmSync(dirname(dir), { recursive: true, force: true });
}
