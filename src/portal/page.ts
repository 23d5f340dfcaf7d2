import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';
import type { RequestHandler } from 'express';
import { tenantId } from '../fields.ts';
import type { PortalSessionStore } from './sessions.ts';

/** The page's own source (it runs in the browser and imports nothing of the server). */
const pageDir = path.resolve(import.meta.dirname, '../../portal');
const require = createRequire(import.meta.url);

interface Asset { body: Buffer; gzipped: Buffer; type: string }

/**
 * The bundle, built once per process at the first page request: no build step beside `npm start`, no CDN, and no
 * esbuild at every start of a Herald whose portal nobody opens (a tenth of a second of CPU and a child process).
 * A failed build answers each page request with a 500 (through the problem handler); it stops nothing else.
 */
let built: Promise<Map<string, Asset>> | undefined;
const assetsOnce = () => (built ??= buildAssets());

async function buildAssets(): Promise<Map<string, Asset>> {
  const bundle = await esbuild.build({
    entryPoints: [path.join(pageDir, 'main.ts')], bundle: true, minify: true, format: 'esm', target: 'es2020',
    write: false, legalComments: 'none', logLevel: 'silent',
  });
  const css = (await Promise.all([require.resolve('uplot/dist/uPlot.min.css'), path.join(pageDir, 'portal.css')].map((file) => fs.readFile(file)))).join('\n');
  const files: [string, string | Uint8Array, string][] = [
    ['/', await fs.readFile(path.join(pageDir, 'index.html')), 'text/html; charset=utf-8'],
    ['/app.js', bundle.outputFiles[0]!.contents, 'text/javascript; charset=utf-8'],
    ['/app.css', css, 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([name, content, type]) => {
    const body = Buffer.from(content);
    return [name, { body, gzipped: zlib.gzipSync(body, { level: 9 }), type }];
  }));
}

/** No inline script or style, no eval; the API on the same origin only; framed only where the tenant allows. */
function contentSecurityPolicy(frameAncestors: string[]): string {
  return [
    "default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "img-src 'self' data:",
    "base-uri 'none'", "form-action 'none'", `frame-ancestors ${["'self'", ...frameAncestors].join(' ')}`,
  ].join('; ');
}

/**
 * Serves the portal under /portal/: the page, its script and its styles, each with a strict
 * Content-Security-Policy. `?tenant=` (in every link Herald issues) picks the tenant's frame-ancestors.
 */
export function portalPage(sessions: PortalSessionStore): RequestHandler {
  return async (req, res, next) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return next();
    const asset = (await assetsOnce()).get(req.path);
    if (!asset) return next();
    const tenant = tenantId.safeParse(req.query.tenant);
    const frameAncestors = tenant.success ? await sessions.frameAncestors(tenant.data) : [];
    res.set({
      'content-type': asset.type,
      'content-security-policy': contentSecurityPolicy(frameAncestors),
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
      vary: 'accept-encoding',
    });
    const gzip = /\bgzip\b/.test(req.get('accept-encoding') ?? '');
    if (gzip) res.set('content-encoding', 'gzip');
    res.send(gzip ? asset.gzipped : asset.body);
  };
}
