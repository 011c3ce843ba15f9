/**
 * Names of the load-balancing strategies and the spellings config files and
 * flags may use for them. No runtime code: option parsing and the balancers
 * both import it.
 */

/** The strategies, by the seed's names (`LoadBalanceStrategy::Random` → `'Random'`). */
export const LOAD_BALANCE_STRATEGIES = [
  'RoundRobin',
  'LeastConnections',
  'Random',
  'WeightedRoundRobin',
  'PowerOfTwoChoices',
] as const;

/** One of {@link LOAD_BALANCE_STRATEGIES}. */
export type LoadBalanceStrategy = (typeof LOAD_BALANCE_STRATEGIES)[number];

/** Other spellings accepted in config files and flags (kebab-case, snake_case, short forms). */
const STRATEGY_ALIASES: Readonly<Record<string, LoadBalanceStrategy>> = {
  roundrobin: 'RoundRobin',
  rr: 'RoundRobin',
  leastconnections: 'LeastConnections',
  leastconn: 'LeastConnections',
  lc: 'LeastConnections',
  random: 'Random',
  weightedroundrobin: 'WeightedRoundRobin',
  wrr: 'WeightedRoundRobin',
  poweroftwochoices: 'PowerOfTwoChoices',
  poweroftwo: 'PowerOfTwoChoices',
  p2c: 'PowerOfTwoChoices',
};

/**
 * Parses a strategy name: the seed's spelling (`LeastConnections`) or a
 * kebab/snake/short form (`least-connections`, `lc`, `p2c`). Returns
 * undefined for anything else.
 */
export function parseStrategy(name: string): LoadBalanceStrategy | undefined {
  return STRATEGY_ALIASES[name.replace(/[-_\s]/g, '').toLowerCase()];
}
