/**
 * Tool argument validation: each tool's inputSchema is compiled once, at
 * registration, into a validator function (ajv, JSON Schema 2020-12 as MCP
 * specifies). The hot path calls the compiled function; nothing is rebuilt
 * per call.
 *
 * ajv keeps every compiled schema in a cache keyed by the schema object (and
 * by its `$id`), so a tool that is replaced or removed must release its
 * schema ({@link releaseArgsValidator}); otherwise a process that re-registers
 * tools grows without bound, and a schema with an `$id` could never be
 * registered twice.
 */
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { JsonSchema } from './types.js';

const require = createRequire(import.meta.url);
// ajv ships CommonJS; load its 2020-12 build directly.
interface AjvInstance {
  compile(s: object): ValidateFunction;
  removeSchema(s: object): unknown;
  /** ajv's compiled-schema cache, keyed by schema object. */
  readonly _cache: Map<object, unknown>;
  /** Schemas registered by `$id`. */
  readonly refs: Record<string, unknown>;
  readonly schemas: Record<string, unknown>;
}
const { Ajv2020 } = require('ajv/dist/2020.js') as { Ajv2020: new (opts: object) => AjvInstance };

const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });

/** A compiled validator: returns null when valid, else a one-line message. */
export type ArgsValidator = (args: unknown) => string | null;

/** Compiles `schema`; throws a TypeError naming the tool when the schema itself is invalid. */
export function compileArgsValidator(toolName: string, schema: JsonSchema): ArgsValidator {
  // A $id another live schema holds is refused here, before ajv registers
  // anything: the cleanup below must only ever drop what this call added.
  const id = typeof schema.$id === 'string' ? schema.$id.replace(/#$/, '') : '';
  if (id !== '' && !ajv._cache.has(schema) && (ajv.refs[id] !== undefined || ajv.schemas[id] !== undefined)) {
    throw new TypeError(`tool "${toolName}": inputSchema $id "${id}" is already used by another tool's schema`);
  }
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    // A failed compile leaves its schema (and $id) registered: drop them.
    ajv.removeSchema(schema);
    throw new TypeError(`tool "${toolName}": inputSchema is not a valid JSON Schema: ${(err as Error).message}`);
  }
  return (args) => (validate(args) ? null : describe(validate.errors));
}

/**
 * Releases what compiling `schema` registered (its cache entry and `$id`).
 * Validators already made from it keep working; releasing twice is harmless.
 */
export function releaseArgsValidator(schema: JsonSchema): void {
  ajv.removeSchema(schema);
}

/** Schemas held by the validator cache (ajv's own meta-schemas included): constant while tools are only replaced. */
export function compiledSchemaCount(): number {
  return ajv._cache.size;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  if (!errors || errors.length === 0) return 'arguments do not match the input schema';
  return errors
    .map((e) => {
      const at = e.instancePath === '' ? 'arguments' : `arguments${e.instancePath.replaceAll('/', '.')}`;
      return `${at} ${e.message ?? 'is invalid'}`;
    })
    .join('; ');
}
