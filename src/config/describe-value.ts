/**
 * A short printable form of a value for one-line option errors ("got …"):
 * strings quoted, objects as JSON cut at 80 characters, functions named as
 * such. Shared by every option validator, so all of them repeat a bad value
 * the same way.
 */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    const json = JSON.stringify(value);
    return json.length > 80 ? `${json.slice(0, 77)}...` : json;
  } catch {
    return Object.prototype.toString.call(value);
  }
}
