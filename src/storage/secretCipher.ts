import crypto from 'node:crypto';
import { type PayloadKey, SEALED_PREFIX } from '../keys.ts';
const IV_BYTES = 12;
const TAG_BYTES = 16;
/**
 * What a cipher seals, each with a key of its own derived from the payload keys (separate from the
 * one that encrypts Temporal payloads): `purpose` derives the key, `owner` names a value's owner in errors.
 */
export const ENDPOINT_SECRETS = { purpose: 'herald endpoint signing secrets v1', owner: 'endpoint' };
export const ATTEMPT_EXCERPTS = { purpose: 'herald attempt log excerpts v1', owner: 'attempt' };

/** The additional data a value is sealed with: its owner, and which part of it when not an endpoint's signing secret (sealed before parts were). */
const boundTo = (ownerId: string, part: string | undefined) => Buffer.from(part === undefined ? ownerId : `${ownerId}\n${part}`);

/**
 * Seals what an endpoint holds in confidence (its signing secrets and its static header values), and
 * what an attempt sent and was answered (its excerpts), at rest with AES-256-GCM under the first
 * configured key (one derived from it by HKDF), bound to their owner and the part of it they belong
 * to, so a sealed value copied into another owner's row, or from a header into the secret, does not open. Opens with whichever configured key a value names;
 * plaintext values pass through, so rows written before keys were configured keep working.
 */
export class SecretCipher {
  private readonly keys: Map<string, Buffer>;
  private readonly sealWith: string | undefined;

  constructor(keys: readonly PayloadKey[], private readonly use: { purpose: string; owner: string } = ENDPOINT_SECRETS) {
    this.keys = new Map(keys.map(({ id, key }) => [id, Buffer.from(crypto.hkdfSync('sha256', key, Buffer.alloc(0), use.purpose, 32))]));
    this.sealWith = keys[0]?.id;
  }

  /**
   * `secret` as it is stored for its owner (endpoint `ownerId`): sealed when a key is configured, as is otherwise.
   * `part` names what it is when not an endpoint's signing secret (`header Authorization`).
   */
  seal(secret: string, ownerId: string, part?: string): string {
    if (this.sealWith === undefined) return secret;
    const iv = crypto.randomBytes(IV_BYTES);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.keys.get(this.sealWith)!, iv);
    cipher.setAAD(boundTo(ownerId, part));
    const sealed = Buffer.concat([iv, cipher.update(secret, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${SEALED_PREFIX}${this.sealWith}:${sealed.toString('base64url')}`;
  }

  /** The secret a stored value holds (sealed as `part`, see seal); throws naming the key id when it cannot be opened. */
  open(stored: string, ownerId: string, part?: string): string {
    if (!stored.startsWith(SEALED_PREFIX)) return stored;
    const [keyId = '', data = ''] = stored.slice(SEALED_PREFIX.length).split(':');
    const key = this.keys.get(keyId);
    const what = part ?? 'secret';
    if (!key) throw new Error(`${this.use.owner} ${ownerId}: its ${what} is sealed with key "${keyId}", which is not among the configured keys (HERALD_PAYLOAD_KEYS)`);
    const bytes = Buffer.from(data, 'base64url');
    try {
      const decipher = crypto.createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(boundTo(ownerId, part));
      decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(`${this.use.owner} ${ownerId}: its sealed ${what} fails authentication (altered, or copied from elsewhere)`);
    }
  }

  /** Whether a stored value should be sealed again: plaintext, or sealed under a key that is no longer the first. */
  needsSealing(stored: string): boolean {
    return this.sealWith !== undefined && !stored.startsWith(`${SEALED_PREFIX}${this.sealWith}:`);
  }
}
