// A worker thread's entry. Node 20 does not carry tsx's loader into worker threads, so the
// TypeScript side is loaded through tsx's API, as bin/herald.js loads the CLI.
import { tsImport } from 'tsx/esm/api';

await tsImport('./thread.ts', import.meta.url);
