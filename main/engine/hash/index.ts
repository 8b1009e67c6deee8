// The hash layer's public face: B1's engine imports from here.
export { createFileHasher, type FileHasherOptions } from './file-hasher.js';
export { identityOf, sameIdentity } from './file-identity.js';
export type { FileHasher, FileIdentity, HashResult } from './types.js';
