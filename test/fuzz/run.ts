/**
 * `npm run fuzz`: at least 10,000 generated bad inputs against a real Herald (embedded Temporal,
 * PGlite, the worker and the API, as `npm start` runs them), across every write route, every path
 * and query parameter, hostile JSON Schemas, header sets and transforms (test/fuzz/suites.ts).
 * Prints the counts per suite; exits 1 at the first answer that is a 5xx, not problem+json, slow
 * or missing. FUZZ_SCALE multiplies the runs (default 1).
 */
import { fuzzHerald, ADMIN_KEY, type FuzzRuns } from './suites.ts';
import { startTestHerald } from '../support/herald.ts';

const scale = Number(process.env.FUZZ_SCALE ?? 1);
const runs: FuzzRuns = {
  perWriteRoute: 500 * scale,
  perParameterRoute: 150 * scale,
  schemas: 400 * scale,
  headerSets: 400 * scale,
  transforms: 200 * scale,
  blockingSchemas: 40 * scale,
};

const herald = await startTestHerald({ HERALD_API_KEY: ADMIN_KEY });
const started = Date.now();
let failed = false;
try {
  const counts = await fuzzHerald(herald, runs, (line) => console.log(line));
  const total = counts.reduce((sum, c) => sum + c.requests, 0);
  const statuses: Record<number, number> = {};
  for (const c of counts) for (const [status, n] of Object.entries(c.statuses)) statuses[Number(status)] = (statuses[Number(status)] ?? 0) + n;
  const failures = counts.filter((c) => c.failure);
  failed = failures.length > 0;
  console.log(`fuzz: ${total} requests in ${counts.length} suites in ${Math.round((Date.now() - started) / 1000)} s; statuses ${JSON.stringify(statuses)}; slowest ${Math.max(...counts.map((c) => c.slowestMs))} ms; ${failures.length ? `FAILED: ${failures.map((c) => c.suite).join(', ')}` : 'no failures'}`);
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await herald.stop();
}
process.exit(failed ? 1 : 0);
