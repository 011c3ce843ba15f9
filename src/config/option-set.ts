/**
 * One declaration per option set. Each option is written once — its kind,
 * range and default — and the set yields what used to be written by hand in
 * several places: the defaults object, the zod fields of the config file
 * schema, and the check that turns a bad value into a one-line message
 * naming the option and repeating the value:
 *
 * ```ts
 * const POOL = defineOptions({
 *   minConnections: int({ min: 0, default: 1 }),
 *   scaleUpThreshold: num({ min: 0, max: 1, default: 0.8 }),
 *   loadBalanceStrategy: oneOf(LOAD_BALANCE_STRATEGIES, { default: 'RoundRobin' }),
 * });
 * POOL.defaults;      // { minConnections: 1, scaleUpThreshold: 0.8, … }
 * POOL.shape;         // zod fields, each optional, for z.strictObject
 * POOL.resolve({});   // defaults, then the values given, each checked
 * ```
 *
 * What an option means stays in the JSDoc of the public options interface
 * (what an editor shows); a test checks the README's settings tables against
 * the declarations. Checks between options (min ≤ max) stay with the
 * resolver of each set.
 *
 * A number or enum option may be declared with `default: undefined` when
 * it has no fixed default: it is required where the set's resolver says so
 * (a limit's rate), or its default is derived from other settings (a burst
 * that follows the rate, a codec's measured threshold). Its range is still
 * declared once; the resolver supplies the rest.
 */
import { z } from 'zod';
import { describeValue } from './describe-value.js';

/**
 * Largest value of an integer option: ws keeps maxPayload, maxFragments and
 * maxBufferedChunks as 32-bit integers (`| 0`, so 2^31 and above would mean
 * "no limit"), and timers overflow past it. The default upper bound of
 * {@link int}.
 */
export const MAX_LIMIT = 2 ** 31 - 1;

/** A number option: an integer, or any finite number; `min` inclusive unless `above` is set. */
export interface NumberOption<D extends number | undefined = number | undefined> {
  readonly kind: 'int' | 'number';
  /** undefined: no fixed default (required, or derived by the set's resolver). */
  readonly default: D;
  readonly min: number;
  readonly max: number;
  /** The value must be greater than `min`, not equal to it (a positive rate). */
  readonly above: boolean;
}

/** A boolean option. */
export interface BooleanOption {
  readonly kind: 'boolean';
  readonly default: boolean;
}

/** A string option, optionally with a required prefix. */
export interface StringOption {
  readonly kind: 'string';
  readonly default: string;
  readonly startsWith: string | undefined;
}

/** One of a fixed list of strings. */
export interface EnumOption<T extends string = string, D extends T | undefined = T | undefined> {
  readonly kind: 'enum';
  /** undefined: no fixed default (derived by the set's resolver). */
  readonly default: D;
  readonly values: readonly T[];
}

/** Any option declaration. */
export type OptionSpec = NumberOption | BooleanOption | StringOption | EnumOption;

/** An integer option, `min` to `max` (default {@link MAX_LIMIT}). */
export function int(spec: { min: number; max?: number; default: number }): NumberOption<number>;
export function int(spec: { min: number; max?: number; default: undefined }): NumberOption<undefined>;
export function int(spec: { min: number; max?: number; default: number | undefined }): NumberOption {
  return Object.freeze({ kind: 'int', default: spec.default, min: spec.min, max: spec.max ?? MAX_LIMIT, above: false });
}

/** A finite number option, from `min` (or above it, with `above`) to `max` (default unbounded). */
export function num(spec: { min: number; max?: number; above?: boolean; default: number }): NumberOption<number>;
export function num(spec: { min: number; max?: number; above?: boolean; default: undefined }): NumberOption<undefined>;
export function num(spec: { min: number; max?: number; above?: boolean; default: number | undefined }): NumberOption {
  return Object.freeze({ kind: 'number', default: spec.default, min: spec.min, max: spec.max ?? Infinity, above: spec.above ?? false });
}

/** A boolean option. */
export function bool(spec: { default: boolean }): BooleanOption {
  return Object.freeze({ kind: 'boolean', default: spec.default });
}

/** A non-empty string option; with `startsWith`, one that starts with it. */
export function str(spec: { default: string; startsWith?: string }): StringOption {
  return Object.freeze({ kind: 'string', default: spec.default, startsWith: spec.startsWith });
}

/** One of `values`. */
export function oneOf<const T extends string>(values: readonly T[], spec: { default: NoInfer<T> }): EnumOption<T, T>;
export function oneOf<const T extends string>(values: readonly T[], spec: { default: undefined }): EnumOption<T, undefined>;
export function oneOf<const T extends string>(values: readonly T[], spec: { default: T | undefined }): EnumOption<T> {
  return Object.freeze({ kind: 'enum', default: spec.default, values });
}

/** The type of a value of a declaration (what its zod field parses to). */
export type ValueOf<S> = S extends EnumOption<infer T> ? T : S extends NumberOption ? number : S extends BooleanOption ? boolean : S extends StringOption ? string : never;

/** The value type of a declaration; `| undefined` when it has no fixed default. */
export type OptionValue<S> = S extends { readonly default: undefined } ? ValueOf<S> | undefined : ValueOf<S>;

/** The values of a set of declarations. */
export type OptionValues<D extends Record<string, OptionSpec>> = { [K in keyof D]: OptionValue<D[K]> };

/** What {@link defineOptions} yields. */
export interface OptionSet<D extends Record<string, OptionSpec>> {
  /** The declarations, as written. */
  readonly specs: D;
  /** Every option's default. */
  readonly defaults: Readonly<OptionValues<D>>;
  /** zod fields of the config file, each optional; spread into a `z.strictObject`. */
  readonly shape: { readonly [K in keyof D]: z.ZodOptional<z.ZodType<ValueOf<D[K]>>> };
  /**
   * Why `value` is not a valid `name`, as a one-line message naming it
   * (after `prefix`) and repeating the value; undefined when it is valid.
   */
  problem(name: keyof D & string, value: unknown, prefix?: string): string | undefined;
  /**
   * Defaults, then every value of `given` that is not undefined and names an
   * option of the set (other keys are left to the caller), each checked.
   *
   * @throws RangeError with the {@link problem} message of the first bad value
   */
  resolve(given: object, prefix?: string): OptionValues<D>;
}

/** Declares an option set; see the module comment. */
export function defineOptions<const D extends Record<string, OptionSpec>>(specs: D): OptionSet<D> {
  const defaults = {} as Record<string, unknown>;
  const shape = {} as Record<string, z.ZodOptional>;
  for (const [name, spec] of Object.entries(specs)) {
    defaults[name] = spec.default;
    shape[name] = zodOf(spec).optional();
    // A default outside its own range is a mistake in the declaration.
    const bad = spec.default === undefined ? undefined : problemOf(spec, spec.default, name);
    if (bad !== undefined) throw new Error(`option declaration: default of ${bad}`);
  }
  const problem = (name: keyof D & string, value: unknown, prefix = ''): string | undefined => problemOf(specs[name]!, value, `${prefix}${name}`);
  return Object.freeze({
    specs,
    defaults: Object.freeze(defaults) as Readonly<OptionValues<D>>,
    shape: Object.freeze(shape) as unknown as OptionSet<D>['shape'],
    problem,
    resolve(given: object, prefix = ''): OptionValues<D> {
      const out = { ...defaults };
      for (const [name, value] of Object.entries(given)) {
        if (value === undefined || !Object.hasOwn(specs, name)) continue;
        const bad = problem(name, value, prefix);
        if (bad !== undefined) throw new RangeError(bad);
        out[name] = value;
      }
      return out as OptionValues<D>;
    },
  });
}

/** The zod type of one declaration: the same range as {@link problemOf} checks. */
function zodOf(spec: OptionSpec): z.ZodType {
  switch (spec.kind) {
    case 'int':
    case 'number': {
      let t = spec.kind === 'int' ? z.number().int() : z.number();
      t = spec.above ? t.gt(spec.min) : t.min(spec.min);
      return spec.max === Infinity ? t : t.max(spec.max);
    }
    case 'boolean':
      return z.boolean();
    case 'string':
      return spec.startsWith === undefined ? z.string().min(1) : z.string().startsWith(spec.startsWith);
    case 'enum':
      return z.enum(spec.values as [string, ...string[]]);
  }
}

/** Whether the upper bound is part of what the option means (0–1, a port), not a guard. */
function bounded(spec: NumberOption): boolean {
  return spec.max !== Infinity && spec.max !== MAX_LIMIT;
}

/** What a valid value of `spec` is, as the end of "… should be". */
function expected(spec: OptionSpec): string {
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const noun = spec.kind === 'int' ? 'integer' : 'number';
      if (bounded(spec)) return `${spec.kind === 'int' ? 'an' : 'a'} ${noun} from ${spec.min} to ${spec.max}`;
      if (spec.min === 0 && spec.above) return `a positive ${noun}`;
      if (spec.min === 0) return `a non-negative ${noun}`;
      if (spec.min === 1 && spec.kind === 'int') return `a positive ${noun}`;
      return `${spec.kind === 'int' ? 'an' : 'a'} ${noun} ${spec.above ? '>' : '≥'} ${spec.min}`;
    }
    case 'boolean':
      return 'a boolean';
    case 'string':
      return spec.startsWith === undefined ? 'a non-empty string' : `a string starting with ${JSON.stringify(spec.startsWith)}`;
    case 'enum':
      return `one of ${spec.values.join(', ')}`;
  }
}

function problemOf(spec: OptionSpec, value: unknown, name: string): string | undefined {
  let ok: boolean;
  switch (spec.kind) {
    case 'int':
    case 'number':
      ok =
        typeof value === 'number' &&
        (spec.kind === 'int' ? Number.isSafeInteger(value) : Number.isFinite(value)) &&
        (spec.above ? value > spec.min : value >= spec.min);
      // Past a bound that is only a guard (MAX_LIMIT) the message names it; a real range is named whole.
      if (ok && (value as number) > spec.max && !bounded(spec)) return `${name} should be at most ${spec.max}, got ${describeValue(value)}`;
      ok &&= (value as number) <= spec.max;
      break;
    case 'boolean':
      ok = typeof value === 'boolean';
      break;
    case 'string':
      ok = typeof value === 'string' && (spec.startsWith === undefined ? value.length > 0 : value.startsWith(spec.startsWith));
      break;
    case 'enum':
      ok = typeof value === 'string' && (spec.values as readonly string[]).includes(value);
      break;
  }
  return ok ? undefined : `${name} should be ${expected(spec)}, got ${describeValue(value)}`;
}
