import crypto from 'node:crypto';
import { type DataConverter, METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
// CommonJS: its namespaces are not named exports under ESM.
import proto from '@temporalio/proto';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** An AES-256 key (32 bytes) and the id payloads encrypted with it carry in their metadata. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

/** A payload this codec cannot read back: its key is not configured, or its bytes were altered. */
export class PayloadDecryptionError extends Error {}

const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * Encrypts each payload whole (its metadata included) with AES-256-GCM under the first key;
 * decrypts with whichever configured key the payload names, so histories written before a
 * rotation stay readable. Payloads that are not encrypted pass through decoding untouched:
 * histories written before encryption was turned on keep working. With no keys, encoding
 * passes everything through as well.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  private readonly encryptWith: PayloadKey | undefined;

  constructor(keys: readonly PayloadKey[]) {
    this.keys = new Map(keys.map(({ id, key }) => [id, key]));
    this.encryptWith = keys[0];
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const current = this.encryptWith;
    if (!current) return payloads;
    return payloads.map((payload) => {
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv('aes-256-gcm', current.key, iv);
      const plain = proto.temporal.api.common.v1.Payload.encode(payload).finish();
      return {
        metadata: { [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(current.id) },
        data: Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload));
  }

  private decrypt(payload: Payload): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (keyId === undefined) throw new PayloadDecryptionError(`encrypted payload has no "${KEY_ID_METADATA}" metadata`);
    const key = this.keys.get(keyId);
    if (!key) throw new PayloadDecryptionError(`payload encrypted with key "${keyId}", which is not among the configured payload keys (HERALD_PAYLOAD_KEYS)`);
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`payload encrypted with key "${keyId}" is truncated`);
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(`payload encrypted with key "${keyId}" fails authentication: altered, or encrypted with another key of that id`);
    }
    return proto.temporal.api.common.v1.Payload.decode(plain);
  }
}

/** The data converter of every Herald client and worker: encrypting when keys are configured, the SDK's default otherwise. */
export function heraldDataConverter(keys: readonly PayloadKey[]): DataConverter | undefined {
  return keys.length ? { payloadCodecs: [new EncryptionCodec(keys)] } : undefined;
}
