/**
 * `npm run fuzz`: at least 10,000 generated bad inputs against a real Herald (embedded Temporal,
 * PGlite, the worker and the API, as `npm start` runs them), across every write route, every path
 * and query parameter, hostile JSON Schemas, header sets and transforms, and transforms and schemas
 * of the shapes that once ran away inside one native step (test/fuzz/suites.ts).
 * Prints the counts per suite and every failure; exits 1 when any suite found an answer that is a
 * 5xx, not problem+json, slow or missing. FUZZ_SCALE multiplies the runs (default 1).
 * Herald runs in this process, so a request that blocks its event loop blocks the fuzzer too, and
 * shows as that request's answer time.
 */
import { fuzzHerald, ADMIN_KEY, type FuzzRuns } from './suites.ts';
import { startTestHerald } from '../support/herald.ts';

const scale = Number(process.env.FUZZ_SCALE ?? 1);
const runs: FuzzRuns = {
  perWriteRoute: 500 * scale,
  perParameterRoute: 200 * scale,
  schemas: 400 * scale,
  headerSets: 400 * scale,
  transforms: 200 * scale,
  runawayTransforms: 300 * scale,
  fanningSchemas: 300 * scale,
  blockingSchemas: 40 * scale,
};

const herald = await startTestHerald({ HERALD_API_KEY: ADMIN_KEY });
const started = Date.now();
const counts = await fuzzHerald(herald, runs, (line) => console.log(line));
const total = counts.reduce((sum, c) => sum + c.requests, 0);
const statuses: Record<number, number> = {};
for (const c of counts) for (const [status, n] of Object.entries(c.statuses)) statuses[Number(status)] = (statuses[Number(status)] ?? 0) + n;
const failures = counts.filter((c) => c.failure).map((c) => c.suite);
const slowest = counts.reduce((a, b) => (b.slowestMs > a.slowestMs ? b : a));
console.log(`fuzz: ${total} requests in ${counts.length} suites in ${Math.round((Date.now() - started) / 1000)} s; statuses ${JSON.stringify(statuses)}; ` +
  `slowest ${slowest.slowestMs} ms; ${failures.length ? `FAILED: ${failures.join(', ')}` : 'no failures'}`);
console.log(`slowest answer (${slowest.suite}): ${slowest.slowest}`);

await herald.stop();
process.exit(failures.length ? 1 : 0);
