// The hash layer's public face: what the engine's composition root builds.
export { createFileHasher } from './file-hasher.js';
export { identityOf } from './file-identity.js';
