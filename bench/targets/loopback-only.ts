/**
 * Preloaded (`node --import`) into a server we do not control that has no
 * bind-address option (supergateway listens on every interface): a listen()
 * without a host binds 127.0.0.1 instead, so the benchmark stays on
 * loopback. Nothing else changes; the server's code runs as shipped.
 */
import net from 'node:net';

const LOOPBACK = '127.0.0.1';
// eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the server as `this`
const original = net.Server.prototype.listen;

function isPort(v: unknown): boolean {
  return typeof v === 'number' || (typeof v === 'string' && /^\d+$/.test(v));
}

net.Server.prototype.listen = function listen(this: net.Server, ...args: unknown[]): net.Server {
  if (isPort(args[0]) && typeof args[1] !== 'string') {
    args.splice(1, 0, LOOPBACK);
  } else if (typeof args[0] === 'object' && args[0] !== null && !('path' in args[0]) && !('host' in args[0])) {
    args[0] = { ...args[0], host: LOOPBACK };
  }
  return (original as (...a: unknown[]) => net.Server).apply(this, args);
} as typeof net.Server.prototype.listen;
