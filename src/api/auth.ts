import crypto from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import { isLoopbackHostHeader, nonLoopbackHostRefusal } from '../exposure.ts';
import type { Logger } from '../logger.ts';
import { isPortalTokenFormat, type PortalCapability, type PortalSessionStore } from '../portal/sessions.ts';
import { isTenantKeyFormat, type TenantStore } from '../storage/tenants.ts';
import { Problem } from './problem.ts';

/**
 * Who a request speaks for: the admin (any tenant), one tenant's key, or a portal session (one tenant,
 * narrowed to its capabilities and, when it has them, its endpoints).
 */
export type Principal =
  | { role: 'admin' }
  | { role: 'tenant'; tenant: string; keyId: string }
  | { role: 'portal'; tenant: string; sessionId: string; capabilities: PortalCapability[]; endpointIds: string[] | null; operator: boolean };

declare global {
  namespace Express {
    interface Locals {
      /** Set by `authenticate` on every request but health checks. */
      principal?: Principal;
    }
  }
}

const unauthorized = () =>
  new Problem(401, 'Unauthorized', 'a valid "Authorization: Bearer <key>" header is required', undefined, { 'www-authenticate': 'Bearer' });

/** The key or token of an "Authorization: Bearer …" header. */
export const bearerToken = (req: Request): string | undefined => /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1];

const sha256 = (text: string) => crypto.createHash('sha256').update(text).digest();

/**
 * Bearer-key check. The admin key (`HERALD_API_KEY`) acts for any tenant; a tenant key
 * (`hk_…`) for its own tenant only. With no admin key configured (development only) a
 * request without a tenant key acts as the admin.
 */
export function authenticate(deps: { apiKey: string | undefined; tenants: TenantStore; portalSessions: PortalSessionStore; logger: Logger }): RequestHandler {
  const adminDigest = deps.apiKey && sha256(deps.apiKey);
  /** Logged for whoever watches for probing; what was sent as a key never is. */
  const refuse = (req: Request, reason: string) => {
    deps.logger.warn({ method: req.method, path: req.path, ip: req.ip, reason }, 'authentication failed');
    return unauthorized();
  };
  return async (req, res, next) => {
    const token = bearerToken(req);
    // Digests of equal length, so the comparison takes the same time whatever was sent.
    if (adminDigest && crypto.timingSafeEqual(sha256(token ?? ''), adminDigest)) {
      res.locals.principal = { role: 'admin' };
    } else if (token && isTenantKeyFormat(token)) {
      const key = await deps.tenants.authenticate(token);
      if (!key) throw refuse(req, 'unknown or revoked tenant key');
      res.locals.principal = { role: 'tenant', tenant: key.tenant, keyId: key.id };
    } else if (token && isPortalTokenFormat(token)) {
      const session = await deps.portalSessions.authenticate(token);
      if (!session) throw refuse(req, 'unknown, expired or revoked portal session');
      res.locals.principal = { role: 'portal', tenant: session.tenant, sessionId: session.id, capabilities: session.capabilities, endpointIds: session.endpointIds, operator: session.operator };
    } else if (!adminDigest) {
      res.locals.principal = { role: 'admin' };
    } else {
      throw refuse(req, token ? 'wrong key' : 'no bearer key');
    }
    next();
  };
}

export function principalOf(res: Response): Principal {
  const principal = res.locals.principal;
  // Fail closed: a route reached without `authenticate` is a wiring bug, never an open door.
  if (!principal) throw new Error('no principal on the request: the route is not behind authenticate()');
  return principal;
}

/** Whether the request carries the admin key. */
export const isAdmin = (res: Response): boolean => principalOf(res).role === 'admin';

/** Whether the request may act for `tenant`; routes that find the tenant inside an id answer 404 when not. */
export function mayActFor(res: Response, tenant: string): boolean {
  const principal = principalOf(res);
  return principal.role === 'admin' || principal.tenant === tenant;
}

/**
 * The tenant a request acts for. The admin may name any tenant (`default` when it names
 * none); a tenant key acts for its own tenant, and naming another one is a 403.
 */
export function resolveTenant(res: Response, requested: string | undefined): string {
  const principal = principalOf(res);
  if (principal.role === 'admin') return requested ?? 'default';
  if (requested !== undefined && !mayActFor(res, requested)) {
    throw new Problem(403, 'Forbidden', `this ${principal.role === 'portal' ? 'session' : 'key'} acts for tenant "${principal.tenant}" only`, [
      { field: 'tenant', message: `must be "${principal.tenant}" or omitted` },
    ]);
  }
  return principal.tenant;
}

/** The endpoints a portal session is narrowed to; null for every other principal and for sessions of a whole tenant. */
export function endpointScope(res: Response): string[] | null {
  const principal = principalOf(res);
  return principal.role === 'portal' ? principal.endpointIds : null;
}

/** Whether the request may see endpoint `id` (a narrowed portal session sees only its own). */
export const mayReachEndpoint = (res: Response, id: string): boolean => endpointScope(res)?.includes(id) ?? true;

/** For routes only the admin key may use (tenants and keys, decrypting payloads); `action` says what in the 403. */
export const requireAdmin = (action: string): RequestHandler => (_req, res, next) => {
  if (principalOf(res).role !== 'admin') throw new Problem(403, 'Forbidden', `${action} needs the admin key`);
  next();
};

/**
 * Without an admin key every request acts as the admin, so only requests addressed to a loopback
 * name are answered: a web page that rebinds its own name to 127.0.0.1 still sends that name.
 */
export const requireLoopbackHost: RequestHandler = (req, _res, next) => {
  if (!isLoopbackHostHeader(req.headers.host)) {
    throw new Problem(403, 'Forbidden', nonLoopbackHostRefusal, [{ field: 'Host', message: 'must be localhost, 127.0.0.1 or [::1] (with any port)' }]);
  }
  next();
};
