import { z } from 'zod';

/** Ids travel inside workflow IDs (`event:<tenant>:<id>`) and headers: no colons, spaces or control characters. */
const idOfAtMost = (max: number) => z.string().regex(new RegExp(`^[A-Za-z0-9._~-]{1,${max}}$`), `1-${max} characters of A-Z a-z 0-9 . _ ~ -`);
export const identifier = idOfAtMost(128);
/**
 * Tenant ids are shorter: `event:<tenant>:<eventId>/<part>` must fit the 255 characters a workflow id
 * has in Temporal's SQL visibility store (PostgreSQL, MySQL), the cluster's and docker-compose's.
 */
export const tenantId = idOfAtMost(64);
/** Named by admin requests; resolveTenant decides what a request may act for. */
export const tenantField = tenantId.optional();
export const eventType = z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'dot-separated words such as "order.submitted"').max(128);
/** What producers may send: `herald.*` types are Herald's own operational events, and receivers trust them as such. */
export const producedEventType = eventType.refine((type) => !type.startsWith('herald.'), 'herald.* event types are reserved for Herald\'s own events');
/** A channel or a tag: a label producers put on events, which endpoints select by (channels) or the log is searched by (tags). */
export const eventLabel = z.string().regex(/^[A-Za-z0-9._:/-]{1,128}$/, '1-128 characters of A-Z a-z 0-9 . _ : / -');
/** At most `max` distinct labels. */
export const eventLabels = (max: number) => z.array(eventLabel).min(1).max(max)
  .refine((labels) => new Set(labels).size === labels.length, 'each at most once');
export const MAX_CHANNELS = 10;
export const MAX_TAGS = 10;

/** A subscription filter: an event type, `family.*`, or `*`. */
export const eventTypePattern = z.string().regex(/^(\*|[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*(\.\*)?)$/, 'an event type, "family.*" or "*"').max(128);

/**
 * Where an endpoint receives: http or https, without credentials in the URL (they would travel
 * into logs, workflow histories and the attempt log; a static Authorization header is masked).
 */
export const endpointUrl = z
  .url({ protocol: /^https?$/, error: 'an http or https URL' })
  // Checked only on a URL that parses (zod runs a refinement after a failed check; the check above names the field then).
  .refine((url) => { if (!URL.canParse(url)) return true; const { username, password } = new URL(url); return !username && !password; }, 'may not carry credentials (user:password@); send them in a static header such as Authorization')
  .describe('http or https; no user:password@ (use a static Authorization header). Guarded: no private or reserved address unless HERALD_ALLOW_PRIVATE_TARGETS');
