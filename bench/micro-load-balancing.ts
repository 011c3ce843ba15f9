/**
 * Load-balancer selection, 16 members, every strategy, beside the seed's
 * published figures (cargo bench load_balancing: RR 8.9 M, LC 6.2 M,
 * Random 12.3 M ops/s). Target (PERFORMANCE.md): at least 50 M ops/s each.
 *
 * Two cases per strategy:
 * - `select`: the selection alone, what the seed measured;
 * - `select+lease+release`: a selection plus the two load updates the pool
 *   makes per client session, so strategies that do their work on update
 *   (least connections keeps members bucketed by load) are not flattered.
 *
 * Each tinybench task runs a batch of operations, because timing a single
 * ~10 ns call would measure the timer. Weights are uneven (1–4) for weighted
 * round robin; loads start uneven and change between batches.
 *
 * Run alone: npx tsc -p tsconfig.bench.json
 *            && node dist-bench/bench/micro-load-balancing.js
 */
import { Bench } from 'tinybench';
import { MemberTable, type Balancer } from '../src/gateway/balancer.js';
import { createBalancer } from '../src/gateway/balancers.js';
import { LOAD_BALANCE_STRATEGIES, type LoadBalanceStrategy } from '../src/gateway/load-balance-strategy.js';
import { seededRandom } from '../src/policy/random.js';

const MEMBERS = 16;
const BATCH = 10_000;
const SEED: Partial<Record<LoadBalanceStrategy, number>> = { RoundRobin: 8.9e6, LeastConnections: 6.2e6, Random: 12.3e6 };
const TARGET = 50e6;

type Runner = (b: Balancer, t: MemberTable) => number;

/**
 * Compiles one batch loop per strategy and case. A loop shared by all
 * strategies would make `select()` a polymorphic call site across five
 * classes, which the gateway (one balancer per pool) never has.
 */
function compile(body: string): Runner {
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- one compiled loop per case, as explained above
  return new Function('b', 't', `let s = 0; for (let k = 0; k < ${BATCH}; k++) { ${body} } return s;`) as Runner;
}

const CASES = {
  select: 's += b.select();',
  'select+lease+release': 'const i = b.select(); t.addActive(i, 1); t.addActive(i, -1); s += i;',
} as const;

const bench = new Bench({ name: 'load-balancer selection', time: 1000, warmupTime: 300 });
const meta: Array<{ strategy: LoadBalanceStrategy; kase: keyof typeof CASES }> = [];
let sink = 0;
for (const kase of Object.keys(CASES) as Array<keyof typeof CASES>) {
  for (const strategy of LOAD_BALANCE_STRATEGIES) {
    const table = new MemberTable(MEMBERS, Array.from({ length: MEMBERS }, (_, i) => 1 + (i % 4)));
    const load = seededRandom(7);
    for (let i = 0; i < MEMBERS; i++) table.addActive(i, (load() * 100) | 0);
    // The default random source, as the gateway uses it.
    const balancer = createBalancer(strategy, table);
    const run = compile(CASES[kase]);
    bench.add(`${strategy} ${kase} (16 members, batch ${BATCH})`, () => {
      const s = run(balancer, table);
      table.addActive(s & 15, 1);
      sink += s;
    });
    meta.push({ strategy, kase });
  }
}

await bench.run();

const rows = bench.tasks.map((task, i) => {
  const { strategy, kase } = meta[i]!;
  const r = task.result as { throughput?: { mean: number }; hz?: number } | undefined;
  const ops = (r?.throughput?.mean ?? r?.hz ?? 0) * BATCH;
  const seed = kase === 'select' ? SEED[strategy] : undefined;
  return {
    strategy,
    case: kase,
    'ops/s': `${(ops / 1e6).toFixed(1)} M`,
    'ns/op': (1e9 / ops).toFixed(2),
    seed: seed === undefined ? '—' : `${(seed / 1e6).toFixed(1)} M (${(1e9 / seed).toFixed(0)} ns)`,
    'vs seed': seed === undefined ? '—' : `${(ops / seed).toFixed(1)}×`,
    'target ≥ 50 M': kase !== 'select' ? '—' : ops >= TARGET ? 'met' : 'MISSED',
  };
});
console.log(`load-balancer selection, ${MEMBERS} members, node ${process.version}`);
console.table(rows);
if (sink === 0.5) console.log('');
