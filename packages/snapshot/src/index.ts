export * from './diff/diff-directories.js';
export { withoutTouchedDirectories } from './diff/touched-directories.js';
export * from './errors.js';
export { type ExtractOptions, type ExtractResult, extractLayer } from './extract/extract-layer.js';
export * from './fs/file-system.js';
export { MemoryFileSystem } from './fs/memory-file-system.js';
export { nodeFileSystem } from './fs/node-file-system.js';
export * from './index/file-index.js';
export { type Compression, detectCompression, zlibHasZstd } from './layer/compression.js';
export * from './layer/create-layer.js';
export { type EntriesFromDirectoryOptions, entriesFromDirectory } from './layer/entries-from-directory.js';
export type { LayerEntry } from './layer/layer-entry.js';
export { type LayerMeasure, measureLayer } from './layer/measure-layer.js';
export * from './layer/media-type.js';
export { classifyWhiteout, OPAQUE_WHITEOUT, WHITEOUT_PREFIX } from './layer/whiteout.js';
export { keepXattr, layerXattrs } from './layer/xattr-policy.js';
export * from './overlay/layer-from-overlay-upper.js';
export {
  type OverlayLower,
  type OverlayXattrNamespace,
  opaqueDirectories,
} from './overlay/lower-stack.js';
export type { TarEntryType, TarHeader } from './tar/tar-header.js';
export { readTar, type TarEntry } from './tar/tar-reader.js';
