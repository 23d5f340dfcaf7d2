#!/usr/bin/env node
// `npx herald`: runs the TypeScript CLI through tsx, so no build step stands between a checkout and the command.
import { tsImport } from 'tsx/esm/api';

await tsImport('../src/cli.ts', import.meta.url);
