/**
 * Merges the Prometheus exposition text of several worker processes into the
 * one text a scrape of the shared port returns.
 *
 * Rule per family (a family is what one `# TYPE` line declares):
 * - counters, histograms and summaries of mcp-ws (`mcp_ws_*`): summed over
 *   workers, series by series (a counter of the whole server is the sum of
 *   its workers' counters; so are histogram buckets, `_sum` and `_count`);
 * - gauges of mcp-ws that count things (connections, requests in flight,
 *   sessions, pool sizes): summed as well;
 * - gauges that describe a state (`…_up`, `…_state`, `…_healthy`, `…_open`,
 *   `…_info`) and every family that is not mcp-ws's own (the process and
 *   Node.js metrics: CPU, memory, event-loop lag are a process's, and a sum
 *   of heap sizes or lags means nothing): kept per worker, each sample
 *   labelled `worker="<id>"`.
 * Families keep the order in which they first appear. Pure text in, text
 * out: no prom-client here (its cluster aggregator reads metric objects,
 * and mcp-ws writes its own families as text, see metrics/metrics.ts).
 */

/** One worker's exposition text. */
export interface WorkerText {
  readonly worker: number | string;
  readonly text: string;
}

interface Family {
  help: string | undefined;
  type: string;
  perWorker: boolean;
  /** Series key (sample line before its value) → value, in first-seen order. */
  readonly series: Map<string, number>;
}

const STATE_SUFFIX = /_(up|state|healthy|open|info)$/;

/** Whether a family's samples stay per worker instead of being summed. */
export function keptPerWorker(name: string, type: string): boolean {
  if (!name.startsWith('mcp_ws_')) return true;
  return type === 'gauge' && STATE_SUFFIX.test(name);
}

/** `name{a="b"}` → `name{worker="w",a="b"}`; `name` → `name{worker="w"}`. */
function withWorker(key: string, worker: string): string {
  const brace = key.indexOf('{');
  const label = `worker="${worker}"`;
  if (brace === -1) return `${key}{${label}}`;
  return key.endsWith('{}') ? `${key.slice(0, -1)}${label}}` : `${key.slice(0, brace + 1)}${label},${key.slice(brace + 1)}`;
}

function parseValue(s: string): number {
  if (s === '+Inf') return Infinity;
  if (s === '-Inf') return -Infinity;
  if (s === 'NaN' || s === 'Nan') return NaN;
  return Number(s);
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return `${v}`;
}

/** Merges workers' texts; see the module comment for the rule. */
export function mergeExpositions(texts: readonly WorkerText[]): string {
  const families = new Map<string, Family>();
  const helps = new Map<string, string>();
  for (const { worker, text } of texts) {
    const w = String(worker);
    let current: Family | undefined;
    for (const line of text.split('\n')) {
      if (line === '') continue;
      if (line.startsWith('# HELP ')) {
        const rest = line.slice(7);
        const sp = rest.indexOf(' ');
        if (sp > 0) helps.set(rest.slice(0, sp), rest.slice(sp + 1));
        continue;
      }
      if (line.startsWith('# TYPE ')) {
        const [name = '', type = 'untyped'] = line.slice(7).split(' ');
        current = families.get(name);
        if (current === undefined) {
          current = { help: helps.get(name), type, perWorker: keptPerWorker(name, type), series: new Map() };
          families.set(name, current);
        }
        continue;
      }
      if (line.startsWith('#') || current === undefined) continue;
      const sp = line.lastIndexOf(' ');
      if (sp <= 0) continue;
      const value = parseValue(line.slice(sp + 1));
      const key = current.perWorker ? withWorker(line.slice(0, sp), w) : line.slice(0, sp);
      current.series.set(key, current.perWorker ? value : (current.series.get(key) ?? 0) + value);
    }
  }
  let out = '';
  for (const [name, f] of families) {
    if (f.help !== undefined) out += `# HELP ${name} ${f.help}\n`;
    out += `# TYPE ${name} ${f.type}\n`;
    for (const [key, value] of f.series) out += `${key} ${formatValue(value)}\n`;
    out += '\n';
  }
  return out;
}
