import crypto from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import { Problem } from './problem.ts';

/** Bearer-key check; with no key configured (development only) every request passes. */
export function requireApiKey(apiKey: string | undefined): RequestHandler {
  const expected = apiKey && crypto.createHash('sha256').update(apiKey).digest();
  return (req, _res, next) => {
    if (!expected) return next();
    const given = /^Bearer (.+)$/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
    const digest = crypto.createHash('sha256').update(given).digest();
    if (!crypto.timingSafeEqual(digest, expected)) {
      return next(new Problem(401, 'Unauthorized', 'a valid "Authorization: Bearer <key>" header is required', undefined, { 'www-authenticate': 'Bearer' }));
    }
    next();
  };
}

/**
 * The tenant a request acts for. The admin key (or no key, in development) may act for
 * any tenant it names, `default` when it names none.
 */
export function resolveTenant(_res: Response, requested: string | undefined): string {
  return requested ?? 'default';
}
