import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { defaultPayloadConverter, type Payload, type SerializationContext } from '@temporalio/common';
import { loadConfig } from '../../src/config.ts';
import type { PayloadKey } from '../../src/keys.ts';
import { EncryptionCodec, PayloadDecryptionError } from '../../src/temporal/payloadCodec.ts';

const newKey = (id: string): PayloadKey => ({ id, key: crypto.randomBytes(32) });
const k1 = newKey('k1');
const k2 = newKey('k2');
const event = { type: 'customer.created', data: { email: 'ada.lovelace@example.com', total: 42.5 } };
const metadataText = (payload: Payload, key: string) => Buffer.from(payload.metadata![key]!).toString('utf8');

describe('EncryptionCodec', () => {
  test('round trip: the stored payload hides the value and names the key; decoding gives the value back', async () => {
    const codec = new EncryptionCodec([k1]);
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload(event)]);
    assert.equal(metadataText(encrypted!, 'encoding'), 'binary/encrypted');
    assert.equal(metadataText(encrypted!, 'encryption-key-id'), 'k1');
    assert.ok(!Buffer.from(encrypted!.data!).includes('ada.lovelace'));
    assert.ok(!Buffer.from(encrypted!.data!).includes('json/plain'), 'the original metadata is encrypted too');
    const [decoded] = await codec.decode([encrypted!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), event);
  });

  test('each payload gets its own IV: the same value encrypts differently every time', async () => {
    const codec = new EncryptionCodec([k1]);
    const payload = defaultPayloadConverter.toPayload(event);
    const [a, b] = await codec.encode([payload, payload]);
    assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
  });

  test('after a rotation (k2 first, k1 kept) new payloads use k2 and payloads written under k1 still decode', async () => {
    const [old] = await new EncryptionCodec([k1]).encode([defaultPayloadConverter.toPayload(event)]);
    const rotated = new EncryptionCodec([k2, k1]);
    const [fresh] = await rotated.encode([defaultPayloadConverter.toPayload(event)]);
    assert.equal(metadataText(fresh!, 'encryption-key-id'), 'k2');
    const decoded = await rotated.decode([old!, fresh!]);
    assert.deepEqual(decoded.map((p) => defaultPayloadConverter.fromPayload(p)), [event, event]);
  });

  test('an altered payload fails authentication, naming its key id', async () => {
    const codec = new EncryptionCodec([k1]);
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload(event)]);
    const data = Buffer.from(encrypted!.data!);
    data[20]! ^= 0x01;
    await assert.rejects(codec.decode([{ ...encrypted, data }]), (err: Error) => {
      assert.ok(err instanceof PayloadDecryptionError);
      assert.match(err.message, /key "k1" fails authentication/);
      return true;
    });
  });

  test('a payload under a key this codec does not hold fails, naming that key id', async () => {
    const [encrypted] = await new EncryptionCodec([k1]).encode([defaultPayloadConverter.toPayload(event)]);
    await assert.rejects(new EncryptionCodec([k2]).decode([encrypted!]), (err: Error) => {
      assert.ok(err instanceof PayloadDecryptionError);
      assert.match(err.message, /encrypted with key "k1", which is not among the configured payload keys/);
      return true;
    });
  });

  test('a payload encrypted under another key of the same id fails authentication', async () => {
    const [encrypted] = await new EncryptionCodec([k1]).encode([defaultPayloadConverter.toPayload(event)]);
    await assert.rejects(new EncryptionCodec([newKey('k1')]).decode([encrypted!]), /key "k1" fails authentication/);
  });

  test('unencrypted payloads (histories from before encryption) pass through decoding untouched', async () => {
    const plain = defaultPayloadConverter.toPayload(event);
    const [decoded] = await new EncryptionCodec([k1]).decode([plain]);
    assert.equal(decoded, plain);
  });

  test('with no keys, encoding passes payloads through', async () => {
    const plain = defaultPayloadConverter.toPayload(event);
    assert.deepEqual(await new EncryptionCodec([]).encode([plain]), [plain]);
  });

  const inWorkflow = (workflowId: string): SerializationContext => ({ type: 'workflow', namespace: 'default', workflowId });
  const inActivityOf = (workflowId: string): SerializationContext => ({ type: 'activity', namespace: 'default', workflowId, activityId: '1', isLocal: false });

  test('a payload is bound to its workflow: moved into another workflow\'s history it is refused', async () => {
    const codec = new EncryptionCodec([k1]);
    const [encrypted] = await codec.encode([defaultPayloadConverter.toPayload(event)], inWorkflow('event:acme:order-1'));
    const [own] = await codec.decode([encrypted!], inWorkflow('event:acme:order-1'));
    assert.deepEqual(defaultPayloadConverter.fromPayload(own!), event);
    const [fromActivity] = await codec.decode([encrypted!], inActivityOf('event:acme:order-1'));
    assert.deepEqual(defaultPayloadConverter.fromPayload(fromActivity!), event);
    await assert.rejects(codec.decode([encrypted!], inWorkflow('event:globex:order-9')), (err: Error) =>
      err instanceof PayloadDecryptionError && /bound to their workflow/.test(err.message));
    // The codec endpoint has no context: the workflow named in the metadata is authenticated instead.
    const [viaEndpoint] = await codec.decode([encrypted!]);
    assert.deepEqual(defaultPayloadConverter.fromPayload(viaEndpoint!), event);
    const relabelled = { ...encrypted!, metadata: { ...encrypted!.metadata, 'encryption-workflow-id': Buffer.from('event:globex:order-9') } };
    await assert.rejects(codec.decode([relabelled], inWorkflow('event:globex:order-9')), /fails authentication/);
    const stripped = { ...encrypted!, metadata: { encoding: encrypted!.metadata!.encoding!, 'encryption-key-id': encrypted!.metadata!['encryption-key-id']! } };
    await assert.rejects(codec.decode([stripped]), /fails authentication/);
  });

  test('a payload as versions before the binding wrote it (no associated data) still decodes', async () => {
    // Written by the codec of commit 96cfafb under a key of 32 bytes of 7.
    const legacy: Payload = {
      metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from('legacy') },
      data: Buffer.from('LzD6YnykE+P69eOZ4tqtStVtvnA7hc/TJQmOzyBf46aS2ZlOuMrr97bm79I8r8TuQGoFfpC4C+2pfBg9iiYTmzALv/eUePL2nd2PvBVSg6SzP1zra/B7szObO6Wn8RiJ1ktd3Q==', 'base64'),
    };
    const [decoded] = await new EncryptionCodec([{ id: 'legacy', key: Buffer.alloc(32, 7) }]).decode([legacy], inWorkflow('event:default:order-1'));
    assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), { type: 'order.submitted', data: { total: 42 } });
  });
});

describe('HERALD_PAYLOAD_KEYS', () => {
  const base64Of = (bytes: number) => crypto.randomBytes(bytes).toString('base64');
  /** The configuration error for `value`, which must not show any of `materials`. */
  const refusal = (value: string, ...materials: string[]) => {
    try {
      loadConfig({ HERALD_PAYLOAD_KEYS: value });
    } catch (err) {
      const message = (err as Error).message;
      for (const material of materials) assert.ok(!message.includes(material), 'the message never shows key material');
      return message;
    }
    assert.fail('expected the configuration to be refused');
  };

  test('unset: no encryption', () => {
    assert.deepEqual(loadConfig({}).payloadKeys, []);
  });

  test('keys are read in order, the first one encrypting', () => {
    const [first, second] = [base64Of(32), base64Of(32)];
    const { payloadKeys } = loadConfig({ HERALD_PAYLOAD_KEYS: `2026-06:${first}, 2025-01:${second}` });
    assert.deepEqual(payloadKeys.map((k) => [k.id, k.key.toString('base64')]), [['2026-06', first], ['2025-01', second]]);
  });

  test('a key that is not 32 bytes is refused, naming its id', () => {
    const short = base64Of(16);
    assert.match(refusal(`short:${short}`, short), /HERALD_PAYLOAD_KEYS: key "short" is 16 bytes; AES-256 needs exactly 32/);
  });

  test('a key that is not base64 is refused, naming its id', () => {
    const garbled = `${base64Of(32).slice(0, 40)}!!!!`;
    assert.match(refusal(`k1:${garbled}`, garbled), /HERALD_PAYLOAD_KEYS: key "k1" is not valid base64/);
    assert.match(refusal('k1:'), /key "k1" is not valid base64/);
  });

  test('an id used twice is refused', () => {
    const [first, second] = [base64Of(32), base64Of(32)];
    assert.match(refusal(`k1:${first},k1:${second}`, first, second), /HERALD_PAYLOAD_KEYS: key id "k1" appears more than once/);
  });

  test('an entry that is not id:key is refused by its position, not its text', () => {
    const key = base64Of(32);
    assert.match(refusal(`k1:${base64Of(32)},${key}`, key), /HERALD_PAYLOAD_KEYS: entry 2 is not "id:base64key"/);
  });
});

describe('HERALD_CODEC_CORS_ORIGINS', () => {
  test('defaults to the embedded Web UI', () => {
    assert.deepEqual(loadConfig({ HERALD_UI_PORT: '9233' }).codecCorsOrigins, ['http://localhost:9233', 'http://127.0.0.1:9233']);
  });

  test('takes a list of origins and refuses anything else', () => {
    assert.deepEqual(loadConfig({ HERALD_CODEC_CORS_ORIGINS: 'https://temporal.example.com, http://localhost:8080' }).codecCorsOrigins, [
      'https://temporal.example.com', 'http://localhost:8080',
    ]);
    assert.throws(() => loadConfig({ HERALD_CODEC_CORS_ORIGINS: 'https://temporal.example.com/ui' }), /"https:\/\/temporal\.example\.com\/ui" is not an origin/);
    assert.throws(() => loadConfig({ HERALD_CODEC_CORS_ORIGINS: '*' }), /"\*" is not an origin/);
  });
});
