/**
 * Compression settings: the config-file fragment (zod), the seed's presets,
 * resolution to a frozen config, and ws's `perMessageDeflate` option. No
 * runtime code, so the config file's schema loads no codec: what a server
 * builds from a resolved config lives beside what it builds
 * (createNegotiator in negotiate.ts, createWireCodec in wire-codec.ts).
 *
 * Two independent mechanisms, both off for clients that do not ask:
 *
 * - Negotiated codecs (`algorithm`, `level`, `algorithms`, `minCompressSize`):
 *   one-shot compression per message, selected through the `mcp.<codec>`
 *   subprotocol. No state per session. On by default (only clients that
 *   offer a codec subprotocol get one).
 * - permessage-deflate (RFC 7692), for browsers: ws keeps a zlib stream per
 *   connection once it has compressed a message (~300 KiB with the default
 *   window), so it is off by default; turn it on when clients cannot speak
 *   a codec subprotocol and connections are few.
 */
import type { PerMessageDeflateOptions } from 'ws';
import { z } from 'zod';
import { CODEC_NAMES, type CodecName } from './codec.js';
import { CODEC_LEVELS, COMPRESSION_OPTIONS, COMPRESSION_PRESETS, PERMESSAGE_DEFLATE_OPTIONS } from './options.js';

export { COMPRESSION_PRESETS, COMPRESSION_OPTIONS, PERMESSAGE_DEFLATE_OPTIONS, type CompressionPreset } from './options.js';

const codecName = z.enum(CODEC_NAMES as [CodecName, ...CodecName[]]);

/** `permessageDeflate` settings; names are ws's. */
export const permessageDeflateSchema = z.strictObject(PERMESSAGE_DEFLATE_OPTIONS.shape);

/** The `compression` section of the config file. Every field optional. */
export const compressionConfigSchema = z
  .strictObject({
    /** enabled, preset, algorithm, minCompressSize, inlineMaxBytes, inlineDecodeMaxBytes: declared in options.ts. */
    ...COMPRESSION_OPTIONS.shape,
    /** Level of `algorithm` (zstd -7–22, br 0–11, gzip/deflate 0–9). Default: the algorithm's (3, 4, 6, 6). */
    level: z.number().int().optional(),
    /** Levels of the other codecs in `algorithms`. */
    levels: z
      .strictObject({ zstd: z.number().int().optional(), br: z.number().int().optional(), gzip: z.number().int().optional(), deflate: z.number().int().optional() })
      .optional(),
    /** Codecs offered, server preference first. Default: `algorithm`, then zstd, br, gzip, deflate. [] offers none. */
    algorithms: z.array(codecName).optional(),
    /** permessage-deflate for browsers. Off by default. */
    permessageDeflate: permessageDeflateSchema.optional(),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<CodecName>();
    for (const n of c.algorithms ?? []) {
      if (seen.has(n)) ctx.addIssue({ code: 'custom', path: ['algorithms'], message: `lists ${JSON.stringify(n)} twice` });
      seen.add(n);
    }
    if (c.algorithm !== undefined && c.algorithms !== undefined && !c.algorithms.includes(c.algorithm)) {
      ctx.addIssue({ code: 'custom', path: ['algorithm'], message: `should be one of algorithms (${c.algorithms.join(', ') || 'none'})` });
    }
    const algorithm = preferred(c);
    if (c.level !== undefined) levelIssue(ctx, ['level'], algorithm, c.level);
    for (const n of CODEC_NAMES) {
      const v = c.levels?.[n];
      if (v !== undefined) levelIssue(ctx, ['levels', n], n, v);
    }
  });

function levelIssue(ctx: z.RefinementCtx, path: Array<string>, name: CodecName, level: number): void {
  const r = CODEC_LEVELS[name];
  if (level < r.min || level > r.max) {
    ctx.addIssue({ code: 'custom', path, message: `should be ${r.min}–${r.max} for ${name}` });
  }
}

/** The codec `level` applies to: `algorithm`, else the preset's, else the first of `algorithms`, else zstd. */
function preferred(c: CompressionConfig): CodecName {
  return c.algorithm ?? (c.preset ? COMPRESSION_PRESETS[c.preset].algorithm : undefined) ?? c.algorithms?.[0] ?? 'zstd';
}

/** The `compression` section as written. */
export type CompressionConfig = z.infer<typeof compressionConfigSchema>;
/** The `permessageDeflate` section as written. */
export type PerMessageDeflateConfig = z.infer<typeof permessageDeflateSchema>;

/** permessage-deflate with defaults applied. */
export interface ResolvedPerMessageDeflate {
  readonly enabled: boolean;
  readonly threshold: number;
  readonly level: number;
  readonly memLevel: number;
  readonly serverMaxWindowBits: number | undefined;
  readonly clientMaxWindowBits: number | undefined;
  readonly serverNoContextTakeover: boolean;
  readonly clientNoContextTakeover: boolean;
  readonly concurrencyLimit: number;
}

/** Compression settings with defaults, preset and user values applied. */
export interface ResolvedCompressionConfig {
  /** Offer negotiated codecs at all. */
  readonly enabled: boolean;
  /** Preferred codec (first of `algorithms` when any). */
  readonly algorithm: CodecName;
  /** Level of `algorithm`. */
  readonly level: number;
  /** Level of every codec. */
  readonly levels: Readonly<Record<CodecName, number>>;
  /** Codecs offered, server preference first (not yet filtered by availability). */
  readonly algorithms: readonly CodecName[];
  /** Messages under this many bytes go as text frames. */
  readonly minCompressSize: number;
  /** Override of the per-codec inline line for compression; undefined keeps each codec's measured default. */
  readonly inlineMaxBytes: number | undefined;
  /** Override of the per-codec inline line for decompression (compressed bytes); undefined keeps the defaults. */
  readonly inlineDecodeMaxBytes: number | undefined;
  /** permessage-deflate, for browsers. */
  readonly permessageDeflate: ResolvedPerMessageDeflate;
}

/**
 * Validates and resolves the `compression` section: defaults, then the
 * preset, then the values given.
 *
 * @throws {RangeError} naming the setting and repeating the value, e.g.
 *   `compression.level should be -7–22 for zstd (got 30)`.
 */
export function resolveCompressionConfig(config: unknown = {}): ResolvedCompressionConfig {
  const parsed = compressionConfigSchema.safeParse(config);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const key = ['compression', ...issue.path].join('.');
    const given = issue.path.reduce<unknown>((v, k) => (v as Record<PropertyKey, unknown>)?.[k as PropertyKey], config);
    throw new RangeError(`${key} ${describeIssue(issue)}${issue.code === 'unrecognized_keys' ? '' : ` (got ${JSON.stringify(given)})`}`);
  }
  const c = parsed.data;
  const preset = c.preset ? COMPRESSION_PRESETS[c.preset] : undefined;
  const algorithm = preferred(c);
  const algorithms = c.algorithms ?? [algorithm, ...CODEC_NAMES.filter((n) => n !== algorithm)];
  const levels = {} as Record<CodecName, number>;
  for (const n of CODEC_NAMES) levels[n] = c.levels?.[n] ?? CODEC_LEVELS[n].default;
  const level = c.level ?? (preset && preset.algorithm === algorithm ? preset.level : undefined) ?? levels[algorithm];
  levels[algorithm] = level;
  // Declared defaults, then the preset, then the values given (resolve skips undefined ones).
  const o = COMPRESSION_OPTIONS.resolve(preset ? { ...preset, ...definedOnly(c) } : c);
  return Object.freeze({
    enabled: o.enabled,
    algorithm,
    level,
    levels: Object.freeze(levels),
    algorithms: Object.freeze([...algorithms]),
    minCompressSize: o.minCompressSize,
    inlineMaxBytes: o.inlineMaxBytes,
    inlineDecodeMaxBytes: o.inlineDecodeMaxBytes,
    permessageDeflate: Object.freeze(PERMESSAGE_DEFLATE_OPTIONS.resolve(c.permessageDeflate ?? {})),
  });
}

function definedOnly(o: object): object {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** One zod issue as the end of a sentence that starts with the setting's name. */
function describeIssue(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `should be ${issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`}`;
    case 'too_small':
      return `should be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `should be at most ${String(issue.maximum)}`;
    case 'invalid_value':
      return `should be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys': {
      const key = issue.keys[0]!;
      const camel = key.replace(/[_-]([a-z0-9])/g, (_, ch: string) => ch.toUpperCase());
      return `has an unknown setting ${JSON.stringify(key)}${camel !== key ? ` — did you mean ${JSON.stringify(camel)}?` : ''}`;
    }
    default:
      return issue.message;
  }
}

/**
 * ws's `perMessageDeflate` server option from the compression config (as
 * written or resolved): `false` unless `permessageDeflate.enabled`. ws caps
 * inflated messages at maxPayload itself, so permessage-deflate needs no cap
 * from here.
 *
 * @throws {RangeError} for invalid permessageDeflate settings.
 */
export function toWsPerMessageDeflate(
  config: { readonly permessageDeflate?: PerMessageDeflateConfig | ResolvedPerMessageDeflate | undefined } = {},
): false | PerMessageDeflateOptions {
  const p = resolveCompressionConfig({ permessageDeflate: config.permessageDeflate ?? {} }).permessageDeflate;
  if (!p.enabled) return false;
  const out: PerMessageDeflateOptions = {
    threshold: p.threshold,
    concurrencyLimit: p.concurrencyLimit,
    serverNoContextTakeover: p.serverNoContextTakeover,
    clientNoContextTakeover: p.clientNoContextTakeover,
    zlibDeflateOptions: { level: p.level, memLevel: p.memLevel },
  };
  if (p.serverMaxWindowBits !== undefined) out.serverMaxWindowBits = p.serverMaxWindowBits;
  if (p.clientMaxWindowBits !== undefined) out.clientMaxWindowBits = p.clientMaxWindowBits;
  return out;
}
