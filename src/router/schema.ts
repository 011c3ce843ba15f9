/**
 * Tool argument validation: each tool's inputSchema is compiled once, at
 * registration, into a validator function (ajv, JSON Schema 2020-12 as MCP
 * specifies). The hot path calls the compiled function; nothing is rebuilt
 * per call.
 */
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv';
import type { JsonSchema } from './types.js';

const require = createRequire(import.meta.url);
// ajv ships CommonJS; load its 2020-12 build directly.
const { Ajv2020 } = require('ajv/dist/2020.js') as { Ajv2020: new (opts: object) => { compile(s: object): ValidateFunction } };

const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false });

/** A compiled validator: returns null when valid, else a one-line message. */
export type ArgsValidator = (args: unknown) => string | null;

/** Compiles `schema`; throws a TypeError naming the tool when the schema itself is invalid. */
export function compileArgsValidator(toolName: string, schema: JsonSchema): ArgsValidator {
  let validate: ValidateFunction;
  try {
    validate = ajv.compile(schema);
  } catch (err) {
    throw new TypeError(`tool "${toolName}": inputSchema is not a valid JSON Schema: ${(err as Error).message}`);
  }
  return (args) => (validate(args) ? null : describe(validate.errors));
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
