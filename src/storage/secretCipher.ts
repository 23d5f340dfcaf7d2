import crypto from 'node:crypto';
import { type PayloadKey, SEALED_PREFIX } from '../keys.ts';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Separates this use of the payload keys from encrypting Temporal payloads: each gets its own derived key. */
const KEY_PURPOSE = 'herald endpoint signing secrets v1';

/** The additional data a value is sealed with: its endpoint, and which part of it when not the signing secret (sealed before parts were). */
const boundTo = (endpointId: string, part: string | undefined) => Buffer.from(part === undefined ? endpointId : `${endpointId}\n${part}`);

/**
 * Seals what an endpoint holds in confidence (its signing secrets and its static header values) at
 * rest with AES-256-GCM under the first configured key (one derived from it by HKDF), bound to the
 * endpoint and the part of it they belong to, so a sealed value copied into another endpoint's row,
 * or from a header into the secret, does not open. Opens with whichever configured key a value names;
 * plaintext values pass through, so rows written before keys were configured keep working.
 */
export class SecretCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly sealWith: string | undefined;

  constructor(keys: readonly PayloadKey[]) {
    this.keys = new Map(keys.map(({ id, key }) => [id, Buffer.from(crypto.hkdfSync('sha256', key, Buffer.alloc(0), KEY_PURPOSE, 32))]));
    this.sealWith = keys[0]?.id;
  }

  /**
   * `secret` as it is stored for endpoint `endpointId`: sealed when a key is configured, as is otherwise.
   * `part` names what it is when not the signing secret (`header Authorization`).
   */
  seal(secret: string, endpointId: string, part?: string): string {
    if (this.sealWith === undefined) return secret;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.keys.get(this.sealWith)!, iv);
    cipher.setAAD(boundTo(endpointId, part));
    const sealed = Buffer.concat([iv, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${this.sealWith}:${sealed.toString('base64url')}`;
  }

  /** The secret a stored value holds (sealed as `part`, see seal); throws naming the key id when it cannot be opened. */
  open(stored: string, endpointId: string, part?: string): string {
    if (!stored.startsWith(SEALED_PREFIX)) return stored;
    const [keyId = '', data = ''] = stored.slice(SEALED_PREFIX.length).split(':');
    const key = this.keys.get(keyId);
    const what = part ?? 'secret';
    if (!key) throw new Error(`endpoint ${endpointId}: its ${what} is sealed with key "${keyId}", which is not among the configured keys (HERALD_PAYLOAD_KEYS)`);
    const bytes = Buffer.from(data, 'base64url');
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(boundTo(endpointId, part));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`endpoint ${endpointId}: its sealed ${what} fails authentication (altered, or copied from elsewhere)`);
    }
  }

  /** Whether a stored value should be sealed again: plaintext, or sealed under a key that is no longer the first. */
  needsSealing(stored: string): boolean {
    return this.sealWith !== undefined && !stored.startsWith(`${SEALED_PREFIX}${this.sealWith}:`);
  }
}
