import type { ErrorRequestHandler } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import { isTemporalUnreachable } from '../temporal/errors.ts';

/** An RFC 9457 problem the API answers with; `errors` names the failing fields. */
export class Problem extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly errors?: { field: string; message: string }[],
    readonly headers: Record<string, string> = {},
  ) {
    super(detail ?? title);
  }
}

/** The body of every error answer; the OpenAPI document describes errors with this schema. */
export const problemBody = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string().optional(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
});

export const notFound = (what: string) => new Problem(404, 'Not Found', `${what} does not exist`);

/** A 400 naming each failing field. */
export function invalidFields(errors: { field: string; message: string }[], where: 'body' | 'query' | 'params' = 'body'): Problem {
  return new Problem(400, 'Invalid request', `${errors.length} invalid field${errors.length > 1 ? 's' : ''} in ${where}`, errors);
}

/** Validates with a zod schema; a failure is a 400 naming each failing field. */
export function parse<S extends z.ZodType>(schema: S, value: unknown, where: 'body' | 'query' | 'params' = 'body'): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = result.error.issues.flatMap((issue) => {
    const at = (...path: PropertyKey[]) => (path.length ? path.map(String).join('.') : where);
    return issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => ({ field: at(...issue.path, key), message: 'unknown field' }))
      : [{ field: at(...issue.path), message: issue.message }];
  });
  throw invalidFields(errors, where);
}

export function problemHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    let problem: Problem;
    if (err instanceof Problem) problem = err;
    else if (err?.type === 'entity.too.large') problem = new Problem(413, 'Payload Too Large', `body exceeds ${err.limit} bytes`);
    else if (err?.type === 'entity.parse.failed') problem = new Problem(400, 'Invalid JSON', 'the body is not valid JSON', [{ field: 'body', message: 'not valid JSON' }]);
    else if (isTemporalUnreachable(err)) {
      problem = new Problem(503, 'Service Unavailable', 'Temporal is unreachable; nothing was changed, retry later', undefined, { 'retry-after': '5' });
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) problem = new Problem(err.status, 'Bad Request', err.message);
    else {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
      problem = new Problem(500, 'Internal Server Error', 'an unexpected error occurred; it has been logged');
    }
    const body: z.input<typeof problemBody> = { type: 'about:blank', title: problem.title, status: problem.status, detail: problem.detail, errors: problem.errors };
    res
      .status(problem.status)
      .set({ 'content-type': 'application/problem+json', ...problem.headers })
      .send(JSON.stringify(body));
  };
}
