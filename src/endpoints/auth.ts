import crypto from 'node:crypto';
import { z } from 'zod';
import { endpointUrl } from '../fields.ts';
import { SEALED_PREFIX } from '../keys.ts';
import type { SecretCipher } from '../storage/secretCipher.ts';

/**
 * How Herald authenticates to a receiver, beyond the signature: an OAuth2 client-credentials token,
 * HTTP basic, or a client certificate. Each type has one secret field, sealed at rest like the
 * signing secret and never read back: reading an endpoint shows the other fields only.
 */

/** A value that would read as sealed at rest is refused: it would fail every attempt. */
const secretText = (max: number) => z.string().min(1).max(max).refine((text) => !text.startsWith(SEALED_PREFIX), `may not start with "${SEALED_PREFIX}", the mark of a sealed secret`);
/** Printable ASCII but the colon, which separates user from password in basic credentials. */
const basicPart = z.string().min(1).max(256).regex(/^[\x20-\x39\x3b-\x7e]+$/, 'printable ASCII without a colon');

function parses(check: () => void): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

export const endpointAuthSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('oauth2-client-credentials'),
    tokenUrl: endpointUrl.describe('the token endpoint, under the same destination guard as the endpoint URL'),
    clientId: z.string().min(1).max(256),
    clientSecret: secretText(1024).describe('write-only: sealed at rest, never read back'),
    scope: z.string().min(1).max(1024).optional(),
    audience: z.string().min(1).max(1024).optional(),
  }),
  z.strictObject({
    type: z.literal('basic'),
    username: basicPart,
    password: secretText(256).describe('write-only: sealed at rest, never read back'),
  }),
  z.strictObject({
    type: z.literal('mtls'),
    certificate: z.string().max(16_384).refine((pem) => parses(() => new crypto.X509Certificate(pem)), 'a PEM certificate'),
    privateKey: secretText(16_384).refine((pem) => parses(() => crypto.createPrivateKey(pem)), 'a PEM private key').describe('write-only: sealed at rest, never read back'),
  }).superRefine(({ certificate, privateKey }, ctx) => {
    const matches = parses(() => {
      if (!new crypto.X509Certificate(certificate).checkPrivateKey(crypto.createPrivateKey(privateKey))) throw new Error('mismatch');
    });
    if (!matches) ctx.addIssue({ code: 'custom', path: ['privateKey'], message: 'not the private key of the certificate' });
  }),
]).nullable().describe('How Herald authenticates to the receiver besides signing: oauth2-client-credentials, basic or mtls; null: none. Its secret field is write-only (docs/endpoints-and-tenants.md#endpoint-authentication).');

/** An endpoint's authentication with its secret in clear: what an attempt uses. */
export type EndpointAuth = NonNullable<z.output<typeof endpointAuthSchema>>;
export type AuthType = EndpointAuth['type'];

/** The one secret field of each type. */
const secretFieldOf = { 'oauth2-client-credentials': 'clientSecret', basic: 'password', mtls: 'privateKey' } as const satisfies Record<AuthType, string>;

/** What reading an endpoint shows of its authentication: everything but the secret. */
export type PublicEndpointAuth = { [T in AuthType]: Omit<Extract<EndpointAuth, { type: T }>, (typeof secretFieldOf)[T]> }[AuthType];

export function publicAuth(auth: EndpointAuth | null): PublicEndpointAuth | null {
  if (!auth) return null;
  const { [secretFieldOf[auth.type]]: _secret, ...shown } = auth as Record<string, string>;
  return shown as PublicEndpointAuth;
}

/** What the secret is sealed as: bound to the endpoint and the field, so it opens nowhere else. */
const sealedPart = (auth: EndpointAuth) => `auth ${secretFieldOf[auth.type]}`;

/** The secret field's value (as stored, or in clear). */
export const authSecretOf = (auth: EndpointAuth): string => (auth as Record<string, string>)[secretFieldOf[auth.type]]!;

/** The authentication as stored: its secret sealed (when keys are configured). */
export function sealAuth(auth: EndpointAuth | null, endpointId: string, cipher: SecretCipher): EndpointAuth | null {
  if (!auth) return null;
  const field = secretFieldOf[auth.type];
  return { ...auth, [field]: cipher.seal(authSecretOf(auth), endpointId, sealedPart(auth)) } as EndpointAuth;
}

/** The stored authentication with its secret in clear. */
export function openAuth(stored: EndpointAuth | null, endpointId: string, cipher: SecretCipher): EndpointAuth | null {
  if (!stored) return null;
  const field = secretFieldOf[stored.type];
  return { ...stored, [field]: cipher.open(authSecretOf(stored), endpointId, sealedPart(stored)) } as EndpointAuth;
}

/** The header auth sets, which neither static headers nor a transform may then set. */
export const authHeaderOf = (auth: { type: AuthType } | null | undefined): string | undefined =>
  auth && auth.type !== 'mtls' ? 'authorization' : undefined;
