import { z } from 'zod';
import { SEALED_PREFIX } from './keys.ts';

/** RFC 9110 token characters, the only ones a header name may have (no NUL, CR, LF, space or colon). */
const token = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Headers that frame, route or upgrade the request, or that Herald sets itself: chosen by an
 * endpoint they would break the request (a second Content-Length, a Transfer-Encoding), send
 * it elsewhere (Host) or smuggle another one behind it.
 */
export const reservedHeaderNames: ReadonlySet<string> = new Set([
  'host', 'content-type', 'content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive',
  'proxy-connection', 'upgrade', 'te', 'trailer', 'expect',
]);

export const isReservedHeaderName = (name: string) => reservedHeaderNames.has(name.toLowerCase());

/** A header name an endpoint may set (static headers, the HMAC signature header). */
export const headerName = z
  .string()
  .max(64)
  .regex(token, "an HTTP header name: letters, digits and !#$%&'*+.^_`|~-")
  .refine((name) => !isReservedHeaderName(name), { error: (issue) => `"${String(issue.input)}" is set by Herald or frames the request; it cannot be chosen` });

/** The start of header names Herald completes (`<prefix>Event`): token characters only. */
export const headerNamePrefix = z.string().max(48).regex(token, "the start of an HTTP header name: letters, digits and !#$%&'*+.^_`|~-");

/**
 * A header value undici will send: tab, printable ASCII and Latin-1, so no line breaks (header
 * injection), no NUL, and nothing a sender would refuse at every attempt.
 */
export const headerValue = z.string().max(1024).regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'printable characters only: no line breaks, NUL, or characters beyond Latin-1')
  .refine((value) => !value.startsWith(SEALED_PREFIX), `may not start with "${SEALED_PREFIX}", the mark of a sealed value`);

/** How a static header's value reads back (and shows in previews); sent in a PATCH, it keeps the stored value. */
export const MASKED_HEADER_VALUE = '********';

/** Standard Webhooks' own headers: the signature sets them. */
const signatureHeaders = /^webhook-/i;

/** An endpoint's static headers; each refused name or value is reported under its own name. */
export const staticHeaders = z
  .record(z.string(), headerValue)
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      const refusal = signatureHeaders.test(name) ? 'webhook-* headers are set by the signature' : headerName.safeParse(name).error?.issues[0]?.message;
      if (refusal) ctx.addIssue({ code: 'custom', path: [name], message: refusal });
    }
  })
  .describe(
    'Headers sent with every attempt. Values read back as "********"; sent back so, a value is kept as stored. ' +
      'Names are HTTP tokens, not Host, Content-Type, Content-Length, Content-Encoding, Transfer-Encoding, Connection, Keep-Alive, ' +
      'Proxy-Connection, Upgrade, TE, Trailer, Expect or webhook-*; values have no CR, LF, NUL or characters beyond Latin-1.',
  );
