import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { heraldSearchAttributes } from '../../workflows/contract.ts';

// There is no Docker engine here: the file is checked against the Compose Specification's
// JSON schema as the dclint package ships it, then for what Herald needs from it.
const require = createRequire(import.meta.url);
const composeSchema = JSON.parse(fs.readFileSync(path.join(path.dirname(require.resolve('dclint/package.json')), 'schemas', 'compose.schema.json'), 'utf8'));
// Compose resolves `<<: *herald` merge keys before it validates; so does this parse.
const compose = parse(fs.readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true });

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, unknown>;
  healthcheck?: { test: string[] };
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
}
const services: Record<string, Service> = compose.services;

test('docker-compose.yml is valid under the Compose Specification schema', () => {
  // The schema names draft-07 by its https URL, which Ajv (draft-07 by default) knows by its http one.
  const { $schema, ...schema } = composeSchema;
  assert.match($schema, /draft-07/);
  // strictTypes off: the schema's union types (`integer | string`, for ${VAR} interpolation) are deliberate.
  const validate = new Ajv({ allErrors: true, strictTypes: false }).compile(schema);
  assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
});

test('it runs Temporal on PostgreSQL, the Web UI, the API, several workers and Herald’s own PostgreSQL', () => {
  assert.match(services.temporal!.image!, /^temporalio\/(auto-setup|server):/);
  assert.equal(services.temporal!.environment!.DB, 'postgres12');
  assert.match(services['temporal-db']!.image!, /^postgres:/);
  assert.match(services['temporal-ui']!.image!, /^temporalio\/ui:/);
  assert.match(services['herald-db']!.image!, /^postgres:/);
  assert.deepEqual(services['herald-api']!.command, ['api']);
  assert.deepEqual(services['herald-worker']!.command, ['worker']);
  assert.ok(services['herald-worker']!.deploy!.replicas! > 1);
});

test('the API and the workers are built from the Dockerfile and reach Temporal and PostgreSQL', () => {
  assert.ok(fs.existsSync(new URL('../../Dockerfile', import.meta.url)));
  for (const name of ['herald-api', 'herald-worker']) {
    const { build, environment = {} } = services[name]!;
    assert.equal(build, '.');
    assert.equal(environment.TEMPORAL_ADDRESS, 'temporal:7233', name);
    assert.match(String(environment.DATABASE_URL), /^postgres:\/\/\w+:\w+@herald-db:5432\/\w+$/, name);
    assert.match(String(environment.HERALD_API_KEY), /^\$\{HERALD_API_KEY:\?/, `${name} refuses to start without a key`);
  }
});

test('every long-running service but the UI has a health check, and start order waits on them', () => {
  for (const name of ['temporal-db', 'temporal', 'herald-db', 'herald-api', 'herald-worker']) {
    assert.ok(services[name]!.healthcheck?.test.length, `${name} has a healthcheck`);
  }
  assert.equal(services.temporal!.depends_on!['temporal-db']!.condition, 'service_healthy');
  assert.equal(services['herald-api']!.depends_on!['herald-db']!.condition, 'service_healthy');
  assert.equal(services['herald-worker']!.depends_on!['herald-db']!.condition, 'service_healthy');
  // Migrations are safe from any number of processes at once (test/unit/storage.test.ts): workers need no API first.
  assert.equal(services['herald-worker']!.depends_on!['herald-api'], undefined);
});

test("Herald's search attributes are registered before the API and workers start", () => {
  const setup = services['temporal-search-attributes']!;
  const script = setup.command!.join(' ');
  for (const key of heraldSearchAttributes) {
    const type = { KEYWORD: 'Keyword', KEYWORD_LIST: 'KeywordList' }[key.type];
    assert.match(script, new RegExp(`--name ${key.name} --type ${type}\\b`), `${key.name} as ${type}`);
  }
  for (const name of ['herald-api', 'herald-worker']) {
    assert.equal(services[name]!.depends_on!['temporal-search-attributes']!.condition, 'service_completed_successfully');
  }
});
