// The metadata layer's public face: B1's engine imports from here.
export { createMetadataReader, type MetadataReaderOptions } from './metadata-reader.js';
export { resolveCaptureTime } from './capture-time.js';
export type * from './types.js';
