import crypto from 'node:crypto';
import { z } from 'zod';
import { headerName, headerNamePrefix } from '../headers.ts';

export interface SigningInput {
  messageId: string;
  eventType: string;
  /** Unix seconds of this attempt. */
  timestamp: number;
  /** Text is signed as its UTF-8 bytes. */
  body: string | Buffer;
  /**
   * Newest first; more than one only during a rotation's grace period. Empty for an endpoint
   * with no secret (shared-secret and hmac-sha256 only): it then sends no secret or signature.
   */
  secrets: string[];
}

/** A signature scheme: the headers it adds to one attempt. */
export type Signer = (input: SigningInput) => Record<string, string>;

export const signatureSchema = z.union([
  z.enum(['standard-webhooks', 'hmac-sha256', 'shared-secret', 'none']).transform((scheme) => ({ scheme })),
  z.strictObject({
    scheme: z.literal('hmac-sha256'),
    /** Header carrying `sha256=<hex>`. */
    header: headerName.default('X-Signature'),
    /** When set, also sends `<prefix>Event`, `<prefix>Event-ID` and `<prefix>Timestamp`. */
    headerPrefix: headerNamePrefix.optional(),
  }),
  z.strictObject({ scheme: z.enum(['standard-webhooks', 'shared-secret', 'none']) }),
]);
export type SignatureConfig = z.output<typeof signatureSchema>;

/** `whsec_<base64>`: the Standard Webhooks secret form. */
export function generateSecret(): string {
  return `whsec_${crypto.randomBytes(24).toString('base64')}`;
}

/** One Standard Webhooks signature: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` under a `whsec_` secret. */
export function standardWebhooksMac(secret: string, messageId: string, timestamp: number | string, body: string | Buffer): string {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  return `v1,${crypto.createHmac('sha256', key).update(`${messageId}.${timestamp}.`).update(body).digest('base64')}`;
}

/** `sha256=<hex HMAC-SHA256 of the body>`, keyed by the secret's UTF-8 bytes (the ERP and SaaS receivers' scheme). */
export function hmacSha256Signature(secret: string, body: string | Buffer): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** Standard Webhooks: one signature per valid secret, space-separated. */
export function standardWebhooksSignature({ messageId, timestamp, body, secrets }: SigningInput): string {
  return secrets.map((secret) => standardWebhooksMac(secret, messageId, timestamp, body)).join(' ');
}

type SchemeName = SignatureConfig['scheme'];

/** A signature scheme, registered by name below: a new receiver's scheme is one entry. */
interface SignatureScheme<C extends SignatureConfig> {
  /** Headers whose value is a secret or derived from one (lower case). */
  secretHeaders(config: C): string[];
  /** Of those, the headers that carry the secret itself (not a signature made with it): masked even in the request as sent. */
  credentialHeaders(config: C): string[];
  signer(config: C): Signer;
  /** Whether it may run without a secret, sending then no secret or signature header. */
  secretOptional: boolean;
}

const schemes: { [K in SchemeName]: SignatureScheme<Extract<SignatureConfig, { scheme: K }>> } = {
  'standard-webhooks': {
    secretHeaders: () => ['webhook-signature'],
    credentialHeaders: () => [],
    signer: () => (input) => ({
      'webhook-id': input.messageId,
      'webhook-timestamp': String(input.timestamp),
      'webhook-signature': standardWebhooksSignature(input),
    }),
    secretOptional: false,
  },
  'hmac-sha256': {
    secretHeaders: (config) => [('header' in config ? config.header : 'X-Signature').toLowerCase()],
    credentialHeaders: () => [],
    signer: (config) => {
      const header = 'header' in config ? config.header : 'X-Signature';
      const prefix = 'headerPrefix' in config ? config.headerPrefix : undefined;
      return (input) => ({
        ...(input.secrets[0] && { [header]: hmacSha256Signature(input.secrets[0], input.body) }),
        ...(prefix && {
          [`${prefix}Event`]: input.eventType,
          [`${prefix}Event-ID`]: input.messageId,
          [`${prefix}Timestamp`]: String(input.timestamp),
        }),
      });
    },
    secretOptional: true,
  },
  'shared-secret': {
    secretHeaders: () => ['x-webhook-secret'],
    credentialHeaders: () => ['x-webhook-secret'],
    // The order form sent no header when its WEBHOOK_SECRET was unset.
    signer: () => (input): Record<string, string> => (input.secrets[0] ? { 'X-Webhook-Secret': input.secrets[0] } : {}),
    secretOptional: true,
  },
  none: {
    secretHeaders: () => [],
    credentialHeaders: () => [],
    signer: () => () => ({}),
    secretOptional: true,
  },
};

/** The registered scheme of `config`, typed for it. */
const schemeOf = <C extends SignatureConfig>(config: C) => schemes[config.scheme] as SignatureScheme<C>;

/** Headers whose value is a secret or derived from one: never set by an endpoint's headers or transform, masked in previews. */
export const secretHeaders = (config: SignatureConfig): string[] => schemeOf(config).secretHeaders(config);

/** Headers whose value is the secret itself (shared-secret's): never stored or shown, unlike a signature, which proves a body and reveals no secret. */
export const credentialHeaders = (config: SignatureConfig): string[] => schemeOf(config).credentialHeaders(config);

export const signerFor = (config: SignatureConfig): Signer => schemeOf(config).signer(config);

/** Schemes that may run without a secret: they then send no secret or signature header (the order form without WEBHOOK_SECRET). */
export const secretOptional = (scheme: string): boolean => schemes[scheme as SchemeName]?.secretOptional ?? false;
