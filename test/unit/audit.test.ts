import assert from 'node:assert/strict';
import { test } from 'node:test';
import { maskSecrets } from '../../src/api/audit.ts';

test("an endpoint's authentication secrets never reach the audit log, whichever its type", () => {
  const changes = maskSecrets({
    url: 'https://receiver.example/hooks',
    auth: [
      { type: 'oauth2-client-credentials', tokenUrl: 'https://auth.example/token', clientId: 'herald', clientSecret: 'cs-123' },
      { type: 'basic', username: 'herald', password: 'pw-123' },
      { type: 'mtls', certificate: '-----BEGIN CERTIFICATE-----', privateKey: '-----BEGIN PRIVATE KEY-----' },
    ],
  });
  const recorded = JSON.stringify(changes);
  for (const secret of ['cs-123', 'pw-123', 'BEGIN PRIVATE KEY']) assert.ok(!recorded.includes(secret), `${secret} in ${recorded}`);
  // What says who the endpoint is and how it authenticates stays readable.
  for (const kept of ['https://receiver.example/hooks', 'https://auth.example/token', 'oauth2-client-credentials', 'BEGIN CERTIFICATE']) assert.ok(recorded.includes(kept), kept);
});
