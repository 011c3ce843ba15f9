/**
 * Matching URIs against RFC 6570 templates, the subset MCP resource
 * templates use: `{var}` (one path segment, no `/`) and `{+var}` (reserved
 * expansion, may contain `/`). Compiled once to a RegExp.
 */

export interface CompiledTemplate {
  readonly template: string;
  match(uri: string): Record<string, string> | null;
}

export function compileUriTemplate(template: string): CompiledTemplate {
  const names: string[] = [];
  let pattern = '^';
  let last = 0;
  const re = /\{(\+?)([A-Za-z0-9_.]+)\}/g;
  for (let m = re.exec(template); m !== null; m = re.exec(template)) {
    pattern += escape(template.slice(last, m.index));
    pattern += m[1] === '+' ? '(.+?)' : '([^/?#]+)';
    names.push(m[2]!);
    last = m.index + m[0].length;
  }
  pattern += `${escape(template.slice(last))}$`;
  const regex = new RegExp(pattern);
  return {
    template,
    match(uri) {
      const m = regex.exec(uri);
      if (m === null) return null;
      const vars: Record<string, string> = {};
      for (let i = 0; i < names.length; i++) {
        const raw = m[i + 1]!;
        try {
          vars[names[i]!] = decodeURIComponent(raw);
        } catch {
          vars[names[i]!] = raw;
        }
      }
      return vars;
    },
  };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
