/**
 * Top self-time functions of a V8 CPU profile (`node --cpu-prof`), as a
 * Markdown table: what to look at first when a target is missed.
 *
 *   npm run bench -- --profile native        writes bench/results/profiles/*.cpuprofile
 *   node dist-bench/bench/profile-top.js bench/results/profiles/CPU…cpuprofile [N]
 */
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fmt, markdownTable } from './lib/markdown.js';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Self time per function (name + location), in ms, largest first. */
export function topSelfTime(profile: Profile, n: number): Array<{ fn: string; where: string; ms: number; share: number }> {
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byId.get(profile.samples[i]!);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node || dt <= 0) continue;
    total += dt;
    const f = node.callFrame;
    const name = f.functionName || '(anonymous)';
    const where = f.url ? `${shorten(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const entry = self.get(key) ?? { fn: name, where, us: 0 };
    entry.us += dt;
    self.set(key, entry);
  }
  return [...self.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, n)
    .map((e) => ({ fn: e.fn, where: e.where, ms: e.us / 1000, share: total > 0 ? (100 * e.us) / total : 0 }));
}

function shorten(url: string): string {
  const path = url.startsWith('file://') ? new URL(url).pathname : url;
  const nm = path.lastIndexOf('node_modules/');
  if (nm !== -1) return path.slice(nm + 'node_modules/'.length);
  return path.startsWith('/') ? relative(process.cwd(), path) : path;
}

function main(): void {
  const [file, count] = process.argv.slice(2);
  if (file === undefined) {
    process.stderr.write('usage: node dist-bench/bench/profile-top.js FILE.cpuprofile [N]\n');
    process.exit(1);
  }
  let profile: Profile;
  try {
    profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  } catch (err) {
    process.stderr.write(`profile-top: cannot read ${file}: ${(err as Error).message.split('\n')[0]}\n`);
    process.exit(1);
  }
  const rows = topSelfTime(profile, Number(count ?? 25) || 25);
  process.stdout.write(
    `${markdownTable(
      ['self ms', 'share %', 'function', 'where'],
      rows.map((r) => [fmt(r.ms, 1), fmt(r.share, 1), r.fn, r.where]),
      [true, true, false, false],
    )}\n`,
  );
}

main();
