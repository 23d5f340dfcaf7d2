/**
 * Herald's key material (HERALD_PAYLOAD_KEYS): it encrypts Temporal payloads (src/temporal/payloadCodec.ts)
 * and seals endpoint secrets at rest (src/storage/secretCipher.ts), each use under its own derived key.
 */

/** An AES-256 key (32 bytes) and the id payloads encrypted with it carry in their metadata. */
export interface PayloadKey {
  id: string;
  key: Buffer;
}

/** Marks a stored value as sealed; a plaintext value (written before keys were configured) never starts with it. */
export const SEALED_PREFIX = 'herald-enc:v1:';
