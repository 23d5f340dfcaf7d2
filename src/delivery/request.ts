/**
 * The one place an outbound request is built: the delivery attempt, `POST /v1/endpoints/:id/preview`
 * and the one-off test send all call buildRequest, so what a preview shows is what a receiver gets.
 * Pure apart from the clock it is handed: body (format preset or transform), Herald's headers, the
 * endpoint's static headers, the signature over the final body, then the transform's headers.
 */
import { bodyKeys, formats, type FormatName } from '../formats/index.ts';
import { MASKED_HEADER_VALUE, reservedHeaderNames } from '../headers.ts';
import { credentialHeaders, secretHeaders, signerFor, type SignatureConfig } from '../signing/index.ts';
import { TransformError, type TransformDefinition, type TransformInput } from '../transform/index.ts';
import { applyTransform } from '../sandbox/transform.ts';
import { version } from '../version.ts';
import { bodyOf } from './bodyCache.ts';
import type { HeraldEvent } from '../../workflows/contract.ts';

export { TransformError };

/** What buildRequest reads of an endpoint: its delivery settings and the secrets that sign right now. */
export interface RequestEndpoint {
  id: string;
  url: string;
  format: FormatName;
  signature: SignatureConfig;
  headers: Record<string, string>;
  sourceApp: string | null;
  transform: TransformDefinition | null;
  /** Newest first; empty string or none for an endpoint without a secret. */
  secrets: string[];
}

export interface AttemptContext {
  /** 1 for the first attempt. */
  number: number;
  /** When this attempt is sent. */
  sentAt: Date;
  /** The deduplication id: the same for every attempt and replay of one event to one endpoint. */
  webhookId: string;
}

export interface OutboundRequest {
  method: 'POST';
  url: string;
  /** Lower-case names. */
  headers: Record<string, string>;
  /** The UTF-8 bytes sent and signed; a large event's are shared by its attempts (bodyOf), so never written to. */
  body: Buffer;
}

/** A request as a preview shows it or the attempt log keeps it: the body as text. */
export type ShownRequest = Omit<OutboundRequest, 'body'> & { body: string };

/** Ids of events sent by the test routes; ingest refuses `@` in ids, so no producer's event looks like one. */
export const TEST_EVENT_ID_PREFIX = 'test@';
/** Set on every request of a test send, so a receiver can tell it from a real event. */
export const TEST_HEADER = 'herald-test';

/**
 * Header names a transform may not set: those static headers may not (they frame, route or upgrade
 * the request), the deduplication id, and those carrying the secret or signature (the transform may
 * set the hmac-sha256 scheme's `<prefix>Event-ID` and `<prefix>Timestamp`, which only describe the event).
 */
export function protectedHeaders(signature: SignatureConfig): Set<string> {
  return new Set([...reservedHeaderNames, 'webhook-id', 'webhook-timestamp', TEST_HEADER, ...secretHeaders(signature)]);
}

const lowerCaseKeys = (headers: Record<string, string>) => Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]));

export async function buildRequest({ event, endpoint, attempt }: { event: HeraldEvent; endpoint: RequestEndpoint; attempt: AttemptContext }): Promise<OutboundRequest> {
  const timestamp = Math.floor(attempt.sentAt.getTime() / 1000);
  const transformed = endpoint.transform
    ? await applyTransform(endpoint.transform, transformInput(event, endpoint, attempt))
    : undefined;
  const body = transformed?.body !== undefined ? Buffer.from(transformed.body) : formatBody(event, endpoint, attempt);
  const forbidden = protectedHeaders(endpoint.signature);
  const fromTransform = lowerCaseKeys(transformed?.headers ?? {});
  for (const name of Object.keys(fromTransform)) {
    // Refused at create and patch; checked again for endpoints stored before a scheme change.
    if (forbidden.has(name)) throw new TransformError(`transform.headers.${name}`, 'may not set this header');
  }
  const headers = {
    'user-agent': `Herald/${version}`,
    ...lowerCaseKeys(endpoint.headers),
    'content-type': 'application/json',
    // Every format and scheme carries it, so any receiver can tell a retry from a new event.
    'webhook-id': attempt.webhookId,
    ...lowerCaseKeys(signerFor(endpoint.signature)({
      messageId: attempt.webhookId,
      eventType: event.type,
      timestamp,
      body,
      secrets: endpoint.secrets,
    })),
    ...fromTransform,
    ...(event.id.startsWith(TEST_EVENT_ID_PREFIX) && { [TEST_HEADER]: 'true' }),
  };
  return { method: 'POST', url: endpoint.url, headers, body };
}

/** The body the endpoint's format makes of the event: serialised once for all attempts where the format reads no attempt. */
function formatBody(event: HeraldEvent, endpoint: RequestEndpoint, attempt: AttemptContext): Buffer {
  const serialise = () => JSON.stringify(formats[endpoint.format](event, endpoint, attempt));
  const key = bodyKeys[endpoint.format](endpoint);
  return key === undefined ? Buffer.from(serialise()) : bodyOf(event, key, serialise);
}

/** What a transform's expressions see. */
export function transformInput(event: HeraldEvent, endpoint: Pick<RequestEndpoint, 'id' | 'sourceApp'>, attempt: AttemptContext): TransformInput {
  return {
    event: { id: event.id, type: event.type, tenant: event.tenant, occurredAt: event.occurredAt, data: event.data },
    attempt: { number: attempt.number, sentAt: attempt.sentAt.toISOString(), sentAtUnix: Math.floor(attempt.sentAt.getTime() / 1000), webhookId: attempt.webhookId },
    endpoint: { id: endpoint.id, sourceApp: endpoint.sourceApp },
  };
}

/** Header names whose values are credentials whoever sets them (a static header, endpoint authentication). */
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization'];

/** `request` with the headers named in `secret` masked, the values of `storedHeaders` shown as reading the endpoint shows them, and the body as text (cut at `bodyBytes`). */
function masked(request: OutboundRequest, secret: Set<string>, storedHeaders: Record<string, string>, bodyBytes = Infinity): ShownRequest {
  const stored = new Set(Object.keys(lowerCaseKeys(storedHeaders)));
  const shown = (name: string, value: string) => (stored.has(name) ? MASKED_HEADER_VALUE : secret.has(name) ? '[masked]' : value);
  const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, shown(name, value)]));
  return { ...request, headers, body: request.body.subarray(0, bodyBytes).toString('utf8') };
}

/**
 * The request for a preview: the secret and signature headers masked (a preview signs a body of the caller's
 * choosing: shown, its signature would let anyone forge a request), and the values of `storedHeaders` (a saved
 * endpoint's static headers) shown as reading the endpoint shows them: they often carry the receiver's credentials.
 */
export function maskSecrets(request: OutboundRequest, signature: SignatureConfig, storedHeaders: Record<string, string> = {}): ShownRequest {
  return masked(request, new Set([...secretHeaders(signature), ...CREDENTIAL_HEADERS]), storedHeaders);
}

/**
 * The request an attempt sent, as the attempt log keeps it: credentials masked (a shared secret, Authorization,
 * every static header value), the signature kept (it proves only a body the receiver already got, and is what a
 * receiver debugging its check needs), the body cut at `bodyBytes` like the response excerpt.
 */
export function requestAsSent(request: OutboundRequest, signature: SignatureConfig, storedHeaders: Record<string, string>, bodyBytes: number): ShownRequest {
  return masked(request, new Set([...credentialHeaders(signature), ...CREDENTIAL_HEADERS]), storedHeaders, bodyBytes);
}
