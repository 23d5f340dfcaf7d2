import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Db } from '../storage/db.ts';

export function healthRouter(deps: { client: Client; db: Db }): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [temporal, storage] = await Promise.all([
      deps.client.withDeadline(Date.now() + 2_000, () => deps.client.workflowService.getSystemInfo({})).then(() => 'ok', () => 'unreachable'),
      deps.db.query('SELECT 1').then(() => 'ok', () => 'unreachable'),
    ]);
    const ready = temporal === 'ok' && storage === 'ok';
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', temporal, storage });
  });
  return router;
}
