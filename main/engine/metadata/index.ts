// The metadata layer's public face: what the engine's composition root builds.
export { createMetadataReader } from './metadata-reader.js';
