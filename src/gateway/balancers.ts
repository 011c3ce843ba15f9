/**
 * The balancer for a strategy name: the one place that knows every
 * implementation (balancer-*.ts), which import only the shared table and
 * interface from balancer.ts.
 */
import { seededRandom, type RandomSource } from '../policy/random.js';
import type { Balancer, MemberTable } from './balancer.js';
import { LeastConnectionsBalancer } from './balancer-least-connections.js';
import { PowerOfTwoChoicesBalancer } from './balancer-p2c.js';
import { RandomBalancer } from './balancer-random.js';
import { RoundRobinBalancer } from './balancer-round-robin.js';
import { WeightedRoundRobinBalancer } from './balancer-weighted-round-robin.js';
import { LOAD_BALANCE_STRATEGIES, type LoadBalanceStrategy } from './load-balance-strategy.js';

/**
 * Makes the balancer for `strategy` over `table`.
 *
 * @param random uniform source for Random and PowerOfTwoChoices. Default: a
 *   {@link seededRandom} generator seeded from `Math.random` — a few imuls
 *   per draw instead of a builtin call, and balancing needs no crypto.
 */
export function createBalancer(
  strategy: LoadBalanceStrategy,
  table: MemberTable,
  random: RandomSource = seededRandom((Math.random() * 4294967296) >>> 0),
): Balancer {
  switch (strategy) {
    case 'RoundRobin':
      return new RoundRobinBalancer(table);
    case 'LeastConnections':
      return new LeastConnectionsBalancer(table);
    case 'Random':
      return new RandomBalancer(table, random);
    case 'WeightedRoundRobin':
      return new WeightedRoundRobinBalancer(table);
    case 'PowerOfTwoChoices':
      return new PowerOfTwoChoicesBalancer(table, random);
    default:
      throw new RangeError(
        `loadBalanceStrategy should be one of ${LOAD_BALANCE_STRATEGIES.join(', ')}, got ${JSON.stringify(strategy)}`,
      );
  }
}
