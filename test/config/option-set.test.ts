/**
 * Option declarations: the config file's zod fields and the resolvers'
 * checks are two readings of one declaration, so they must accept and
 * refuse exactly the same values; messages name the option and repeat the
 * value on one line.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { describeValue } from '../../src/config/describe-value.js';
import { bool, defineOptions, int, MAX_LIMIT, num, oneOf, str } from '../../src/config/option-set.js';
import { SERVER_OPTIONS } from '../../src/server/server-options.js';
import { POOL_OPTIONS } from '../../src/gateway/pool-config.js';
import { CLI_OPTIONS } from '../../src/config/schema.js';
import { GATEWAY_OPTIONS, RETRY_OPTIONS } from '../../src/gateway/session-options.js';
import { BREAKER_OPTIONS } from '../../src/policy/circuit-breaker-options.js';
import { CONNECT_OPTIONS, HEARTBEAT_OPTIONS, RECONNECT_OPTIONS } from '../../src/transport/open-options.js';
import { COMPRESSION_OPTIONS, PERMESSAGE_DEFLATE_OPTIONS } from '../../src/compression/options.js';
import { LIMIT_OPTIONS, RATE_LIMITER_OPTIONS, REDIS_OPTIONS } from '../../src/ratelimit/options.js';

/** Values a hostile or careless config may hold: edges of every range, wrong types, huge and odd numbers. */
const anyValue = fc.oneof(
  fc.constantFrom(0, 1, -1, 0.5, 1.5, 65535, 65536, 65537, MAX_LIMIT, MAX_LIMIT + 1, 2 ** 53, NaN, Infinity, -Infinity, -0),
  fc.integer(),
  fc.double(),
  fc.string(),
  fc.constantFrom('', '/', '/ws', 'ws', 'RoundRobin', 'info', 'true', '10', true, false, null, undefined, [], {}, [1]),
);

const sets = {
  SERVER_OPTIONS,
  POOL_OPTIONS,
  GATEWAY_OPTIONS,
  CONNECT_OPTIONS,
  HEARTBEAT_OPTIONS,
  RECONNECT_OPTIONS,
  PERMESSAGE_DEFLATE_OPTIONS,
  COMPRESSION_OPTIONS,
  CLI_OPTIONS,
  RETRY_OPTIONS,
  BREAKER_OPTIONS,
  LIMIT_OPTIONS,
  RATE_LIMITER_OPTIONS,
  REDIS_OPTIONS,
} as const;

describe('an option declaration', () => {
  for (const [setName, set] of Object.entries(sets)) {
    it(`${setName}: the zod field and the resolver accept and refuse the same values`, () => {
      for (const name of Object.keys(set.specs)) {
        const field = (set.shape as Record<string, z.ZodType>)[name]!;
        fc.assert(
          fc.property(anyValue, (value) => {
            if (value === undefined) return; // absent: the default
            const zodOk = field.safeParse(value).success;
            const problem = (set.problem as (n: string, v: unknown) => string | undefined)(name, value);
            expect(zodOk, `${name} = ${describeValue(value)}: zod ${zodOk ? 'accepts' : 'refuses'}, resolver says ${problem ?? 'fine'}`).toBe(problem === undefined);
          }),
          { numRuns: 300 },
        );
      }
    });

    it(`${setName}: every default is valid and is what an empty resolve gives`, () => {
      const resolved = set.resolve({});
      for (const [name, spec] of Object.entries(set.specs)) {
        expect((resolved as Record<string, unknown>)[name]).toBe(spec.default);
        // No fixed default (required, or derived by the set's resolver): nothing to check.
        if (spec.default === undefined) continue;
        expect((set.problem as (n: string, v: unknown) => string | undefined)(name, spec.default)).toBeUndefined();
      }
    });
  }

  it('names the option, says what it should be and repeats the value, on one line', () => {
    const set = defineOptions({
      size: int({ min: 1, default: 10 }),
      count: int({ min: 0, default: 0 }),
      floor: int({ min: 65536, default: 65536 }),
      port: int({ min: 0, max: 65535, default: 0 }),
      share: num({ min: 0, max: 1, default: 0.5 }),
      rate: num({ min: 0, above: true, default: 1 }),
      on: bool({ default: true }),
      path: str({ startsWith: '/', default: '/x' }),
      mode: oneOf(['a', 'b'], { default: 'a' }),
    });
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ size: 0 }, 'size should be a positive integer, got 0'],
      [{ size: 1.5 }, 'size should be a positive integer, got 1.5'],
      [{ size: '10' }, 'size should be a positive integer, got "10"'],
      [{ size: MAX_LIMIT + 1 }, `size should be at most ${MAX_LIMIT}, got ${MAX_LIMIT + 1}`],
      [{ count: -1 }, 'count should be a non-negative integer, got -1'],
      [{ floor: 1024 }, 'floor should be an integer ≥ 65536, got 1024'],
      [{ port: 70000 }, 'port should be an integer from 0 to 65535, got 70000'],
      [{ share: 2 }, 'share should be a number from 0 to 1, got 2'],
      [{ rate: 0 }, 'rate should be a positive number, got 0'],
      [{ rate: NaN }, 'rate should be a positive number, got NaN'],
      [{ on: 'yes' }, 'on should be a boolean, got "yes"'],
      [{ path: 'x' }, 'path should be a string starting with "/", got "x"'],
      [{ mode: 'c' }, 'mode should be one of a, b, got "c"'],
      [{ mode: { toString: 'a' } }, 'mode should be one of a, b, got {"toString":"a"}'],
    ];
    for (const [given, message] of cases) {
      expect(() => set.resolve(given)).toThrow(new RangeError(message));
    }
    expect(() => set.resolve({ size: 0 }, 'pool.')).toThrow('pool.size should be a positive integer, got 0');
  });

  it('takes the values given over the defaults, skips undefined and leaves keys it does not declare to the caller', () => {
    const set = defineOptions({ a: int({ min: 0, default: 1 }), b: bool({ default: false }) });
    expect(set.resolve({ a: 5, b: undefined, other: 'x' })).toEqual({ a: 5, b: false });
    expect(Object.isFrozen(set.defaults)).toBe(true);
  });

  it('declares an option without a fixed default: checked when given, absent when not', () => {
    const set = defineOptions({ rate: num({ min: 0, above: true, default: undefined }), mode: oneOf(['a', 'b'], { default: undefined }) });
    expect(set.defaults).toEqual({ rate: undefined, mode: undefined });
    expect(set.resolve({})).toEqual({ rate: undefined, mode: undefined });
    expect(set.resolve({ rate: 2, mode: 'b' })).toEqual({ rate: 2, mode: 'b' });
    expect(() => set.resolve({ rate: 0 })).toThrow('rate should be a positive number, got 0');
    expect(set.problem('rate', undefined)).toBe('rate should be a positive number, got undefined');
    expect(z.strictObject(set.shape).safeParse({}).success).toBe(true);
  });

  it('refuses a declaration whose default is outside its own range', () => {
    expect(() => defineOptions({ a: int({ min: 1, default: 0 }) })).toThrow('option declaration: default of a should be a positive integer, got 0');
  });

  it('gives zod fields that are optional and strict in a config object', () => {
    const schema = z.strictObject({ ...POOL_OPTIONS.shape });
    expect(schema.safeParse({}).success).toBe(true);
    expect(schema.safeParse({ minConnections: -1 }).success).toBe(false);
    expect(schema.safeParse({ minConnection: 1 }).success).toBe(false);
  });
});
