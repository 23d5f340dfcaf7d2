import crypto from 'node:crypto';
import { type DataConverter, METADATA_ENCODING_KEY, type Payload, type PayloadCodec, type SerializationContext } from '@temporalio/common';
// CommonJS: its namespaces are not named exports under ESM.
import proto from '@temporalio/proto';
import type { PayloadKey } from '../keys.ts';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
/**
 * The workflow a payload belongs to ('' when encoded outside one, as by POST /codec/encode). Its
 * presence also marks the associated data: payloads written before it had none.
 */
export const WORKFLOW_ID_METADATA = 'encryption-workflow-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** A payload this codec cannot read back: its key is not configured, or its bytes were altered. */
export class PayloadDecryptionError extends Error {}

const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/** What the ciphertext is bound to besides its key: the format, the key id and the workflow. */
const associatedData = (keyId: string, workflowId: string) => Buffer.from(`${ENCRYPTED_ENCODING}\0${keyId}\0${workflowId}`);

/**
 * Encrypts each payload whole (its metadata included) with AES-256-GCM under the first key;
 * decrypts with whichever configured key the payload names, so histories written before a
 * rotation stay readable. Payloads that are not encrypted pass through decoding untouched:
 * histories written before encryption was turned on keep working. With no keys, encoding
 * passes everything through as well.
 *
 * The ciphertext is bound (GCM associated data) to its key id and to the workflow it belongs
 * to, which the SDK's serialization context names; the workflow id also travels in plaintext
 * metadata (it is the history's own id), so the codec endpoint, which gets no context, can
 * still decode. Decoded where the context names another workflow, a payload moved from one
 * history into another is refused; its metadata altered, it fails authentication. Payloads
 * written before binding (no workflow id metadata) decode as they were written, without
 * associated data; stripping the metadata from a bound one makes it fail authentication.
 */
export class EncryptionCodec implements PayloadCodec {
  private readonly keys: Map<string, Buffer>;
  private readonly encryptWith: PayloadKey | undefined;

  constructor(keys: readonly PayloadKey[]) {
    this.keys = new Map(keys.map(({ id, key }) => [id, key]));
    this.encryptWith = keys[0];
  }

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const current = this.encryptWith;
    if (!current) return payloads;
    const workflowId = context?.workflowId ?? '';
    return payloads.map((payload) => {
      const iv = crypto.randomBytes(IV_BYTES);
      const cipher = crypto.createCipheriv('aes-256-gcm', current.key, iv);
      cipher.setAAD(associatedData(current.id, workflowId));
      const plain = proto.temporal.api.common.v1.Payload.encode(payload).finish();
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: Buffer.from(current.id),
          [WORKFLOW_ID_METADATA]: Buffer.from(workflowId),
        },
        data: Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]),
      };
    });
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return payloads.map((payload) => this.decrypt(payload, context?.workflowId));
  }

  private decrypt(payload: Payload, readingIn: string | undefined): Payload {
    if (text(payload.metadata?.[METADATA_ENCODING_KEY]) !== ENCRYPTED_ENCODING) return payload;
    const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
    if (keyId === undefined) throw new PayloadDecryptionError(`encrypted payload has no "${KEY_ID_METADATA}" metadata`);
    const key = this.keys.get(keyId);
    if (!key) throw new PayloadDecryptionError(`payload encrypted with key "${keyId}", which is not among the configured payload keys (HERALD_PAYLOAD_KEYS)`);
    const data = Buffer.from(payload.data ?? []);
    if (data.length < IV_BYTES + TAG_BYTES) throw new PayloadDecryptionError(`payload encrypted with key "${keyId}" is truncated`);
    const boundTo = text(payload.metadata?.[WORKFLOW_ID_METADATA]);
    if (boundTo && readingIn && boundTo !== readingIn) {
      throw new PayloadDecryptionError(`payload encrypted for workflow "${boundTo}" read in workflow "${readingIn}": payloads are bound to their workflow`);
    }
    const decipher = crypto.createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    if (boundTo !== undefined) decipher.setAAD(associatedData(keyId, boundTo));
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
