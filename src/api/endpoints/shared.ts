import type { Response } from 'express';
import { z } from 'zod';
import { type DestinationPolicy, urlRefusal } from '../../delivery/destinations.ts';
import type { EgressProxy } from '../../delivery/egressProxy.ts';
import type { Endpoint, EndpointStore } from '../../endpoints/store.ts';
import { identifier, tenantField } from '../../fields.ts';
import type { Logger } from '../../logger.ts';
import type { Quotas } from '../../quotas.ts';
import type { Db } from '../../storage/db.ts';
import type { DeliveryLog } from '../../storage/deliveryLog.ts';
import type { HeraldTemporal } from '../../temporal/heraldTemporal.ts';
import { isAdmin, resolveTenant } from '../auth.ts';
import { invalidFields, notFound, parse, Problem } from '../problem.ts';

/** What the endpoint routes use; each module of this folder takes the part it needs. */
export interface EndpointsDeps {
  db: Db;
  endpoints: EndpointStore;
  temporal: HeraldTemporal;
  log: DeliveryLog;
  destinations: DestinationPolicy;
  /** HERALD_EGRESS_PROXY: test sends go through it like deliveries (an endpoint's `proxy: false` bypasses it). */
  egressProxy?: EgressProxy;
  quotas: Quotas;
  logger: Logger;
}

export const tenantQuery = z.object({ tenant: tenantField });
/** Endpoint ids are identifiers; anything else (a NUL byte, say) is refused before storage sees it. */
export const endpointParams = z.object({ id: identifier });
export const readOnly = 'a static route from configuration, not changeable through the API';

/** The tenant a by-id request acts for (`?tenant=` for the admin) and its endpoint; 404 when that tenant has none. */
export function ownedEndpointOf(store: EndpointStore) {
  return async (req: { params: { id: string }; query: unknown }, res: Response): Promise<Endpoint> => {
    const { id } = parse(endpointParams, req.params, 'params');
    const tenant = resolveTenant(res, parse(tenantQuery, req.query, 'query').tenant);
    const endpoint = await store.get(tenant, id);
    if (!endpoint) throw notFound(`endpoint ${req.params.id}`);
    // It receives every tenant's events: a tenant key may neither read nor steer it.
    if (endpoint.allTenants && !isAdmin(res)) throw notFound(`endpoint ${req.params.id}`);
    return endpoint;
  };
}

/** Static routes belong to configuration; changing one through the API is a conflict. */
export function assertWritable(endpoint: Endpoint): void {
  if (endpoint.readOnly) {
    throw new Problem(409, 'Conflict', `endpoint ${endpoint.id} is the static route "${endpoint.staticRoute?.name}" from configuration; change it there`);
  }
}

/** Refuses a URL the destination policy forbids, naming `field` (`url` unless told). */
export function assertDestinationAllowed(url: string, destinations: DestinationPolicy, field = 'url'): void {
  const refusal = urlRefusal(url, destinations);
  if (refusal) throw invalidFields([{ field, message: refusal }]);
}

/** Refuses endpoint authentication whose token URL the destination policy forbids. */
export function assertAuthDestinationAllowed(auth: { type: string; tokenUrl?: string } | null | undefined, destinations: DestinationPolicy): void {
  if (auth?.tokenUrl !== undefined) assertDestinationAllowed(auth.tokenUrl, destinations, 'auth.tokenUrl');
}
