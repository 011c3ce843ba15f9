export * from './jsonrpc.js';
export * from './versions.js';
export * from './errors.js';
export * from './close-codes.js';
export * from './meta.js';
