export { BUILD_FLAGS, type FlagSpec } from './flags.js';
export { type CliIo, main, optionsFromFlags } from './main.js';
export { formatHelp, parseArgs, UsageError } from './parse-args.js';
