import { Router } from 'express';
import type { Db } from '../storage/db.ts';
import type { HeraldTemporal } from '../temporal/heraldTemporal.ts';
import type { RouteDescription } from './route.ts';

export const healthRoutes: RouteDescription[] = [
  { method: 'get', path: '/healthz', summary: 'The process is alive', public: true, responses: { 200: '{ status: "ok" }' } },
  {
    method: 'get', path: '/readyz', summary: 'Temporal and storage are reachable', public: true,
    responses: { 200: '{ status: "ready", temporal: "ok", storage: "ok" }', 503: '{ status: "not ready", temporal, storage }, each "ok" or "unreachable"' },
    ownErrorBodies: [503],
  },
];

export function healthRouter(deps: { temporal: HeraldTemporal; db: Db }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [temporal, storage] = await Promise.all([
      deps.temporal.reachable(2_000).then((up) => (up ? 'ok' : 'unreachable')),
      deps.db.query('SELECT 1').then(() => 'ok', () => 'unreachable'),
    ]);
    const ready = temporal === 'ok' && storage === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', temporal, storage });
  });
  return router;
}
