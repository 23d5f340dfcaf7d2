import type { z } from 'zod';

/** What a router module says of each route it serves: the OpenAPI document (openapi.ts) is built from these. */
export interface RouteDescription {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  path: string;
  summary: string;
  /** Served without the bearer key (health checks, this document). */
  public?: true;
  /** The schemas the handler parses with; path parameters without one are plain strings. */
  params?: z.ZodObject;
  query?: z.ZodObject;
  /** Request headers the route reads, as the document lists them (names as HTTP spells them). */
  headers?: z.ZodObject;
  body?: z.ZodType;
  /** The handler reads a missing body as `{}`. */
  bodyOptional?: true;
  /** Status → what the response is; 4xx and 5xx answers are problem documents unless listed in `ownErrorBodies`. */
  responses: Record<number, string>;
  /** Error statuses answered with the route's own JSON (a failing readiness check) rather than a problem document. */
  ownErrorBodies?: number[];
}
