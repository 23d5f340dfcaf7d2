import { Router } from 'express';
import type { RouteDescription } from '../route.ts';
import { endpointCrudRouter, endpointCrudRoutes } from './crud.ts';
import { endpointSecretRoutes, endpointSecretsRouter } from './secrets.ts';
import type { ReplayLimiter } from '../../quotas.ts';
import { endpointRecoveryRouter, endpointRecoveryRoutes } from './recovery.ts';
import type { EndpointsDeps } from './shared.ts';
import { endpointTestingRouter, endpointTestingRoutes } from './testing.ts';

/** The endpoint resource, one module per concern (as Svix splits `v1/endpoints/endpoint/`); its rules live in src/endpoints/. */
export const endpointRoutes: RouteDescription[] = [...endpointCrudRoutes, ...endpointSecretRoutes, ...endpointTestingRoutes, ...endpointRecoveryRoutes];

export function endpointsRouter(deps: EndpointsDeps & { replays: ReplayLimiter }): Router {
  return Router().use(endpointTestingRouter(deps), endpointCrudRouter(deps), endpointSecretsRouter(deps), endpointRecoveryRouter(deps));
}
