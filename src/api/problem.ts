import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ErrorRequestHandler } from 'express';
import { z } from 'zod';
import type { Logger } from '../logger.ts';
import { SandboxUnavailable } from '../sandbox/index.ts';
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
    else if (err?.type === 'entity.too.large') problem = new Problem(413, 'Payload Too Large', `body exceeds ${err.limit} bytes (HERALD_MAX_BODY_BYTES)`);
    else if (err?.type === 'entity.parse.failed') problem = new Problem(400, 'Invalid JSON', 'the body is not valid JSON', [{ field: 'body', message: 'not valid JSON' }]);
    else if (storageRefusedText(err)) {
      const message = 'text Herald stores (names, descriptions, header values, schemas) may not contain NUL characters (\\u0000)';
      problem = new Problem(400, 'Invalid request', message, [{ field: 'body', message }]);
    } else if (isTemporalUnreachable(err)) {
      problem = new Problem(503, 'Service Unavailable', 'Temporal is unreachable; nothing was changed, retry later', undefined, { 'retry-after': '5' });
    } else if (err instanceof SandboxUnavailable) {
      logger.error({ err }, 'no sandbox thread could run an evaluation');
      problem = new Problem(503, 'Service Unavailable', 'Herald could not evaluate the request just now; nothing was changed, retry later', undefined, { 'retry-after': '5' });
    } else if (typeof err?.status === 'number' && err.status >= 400 && err.status < 500) problem = new Problem(err.status, STATUS_CODES[err.status] ?? 'Bad Request', err.message);
    else {
      logger.error({ err, method: req.method, path: req.path }, 'unhandled error');
      problem = new Problem(500, 'Internal Server Error', 'an unexpected error occurred; it has been logged');
    }
    res.status(problem.status).set({ 'content-type': 'application/problem+json', ...problem.headers }).send(problemJson(problem));
  };
}

/**
 * PostgreSQL's refusal of text it cannot hold: a NUL byte in a text column (22021) or a `\u0000`
 * escape in jsonb (22P05). JSON allows both, so only storage finds them.
 */
const storageRefusedText = (err: unknown) =>
  typeof err === 'object' && err !== null && ['22021', '22P05'].includes(String((err as { code?: unknown }).code));

/** The body every error answer carries; typed against `problemBody`, which the OpenAPI document publishes. */
function problemJson(problem: Problem): string {
  const body: z.input<typeof problemBody> = { type: 'about:blank', title: problem.title, status: problem.status, detail: problem.detail, errors: problem.errors };
  return JSON.stringify(body);
}

/**
 * For the HTTP server's `clientError`: a request Node's parser refuses before Express sees it
 * (a line break inside a header value, headers too large) still gets a problem+json answer.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const body = problemJson(new Problem(status, STATUS_CODES[status]!, 'the request is not valid HTTP/1.1'));
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
