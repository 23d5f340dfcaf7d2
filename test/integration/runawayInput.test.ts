import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { eventually } from '../support/eventually.ts';
import { startHeraldWithReceiver } from '../support/heraldWithReceiver.ts';

const ADMIN_KEY = 'admin-key-for-the-runaway-input-test';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
/**
 * The most CPU the main thread (Herald runs in this process) may spend in one turn of its event loop
 * while hostile input is evaluated: on the loop, a runaway would hold it for the 500 ms deadline (a
 * quiet machine gives it all 500 ms); off it, the longest turn measured 10–90 ms at load 31. CPU time,
 * not /healthz's wall time, which other processes' load stretches (CI saw more than 200 ms).
 */
const LONGEST_TURN_CPU_MS = 150;
/** This process's main thread's CPU time in ms (Linux: its task's utime + stime, in clock ticks of 10 ms). */
const mainThreadCpuMs = () => {
  const fields = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
};

/** `levels` doublings of an object that shares its halves, for `$a` and for `$b`, then a deep `=` between them: exponential in one native step. */
const sharedObjectBomb = (levels: number) => {
  const grow = (name: string) => `${name} := "x"; ${`${name} := {"l": ${name}, "r": ${name}}; `.repeat(levels)}`;
  return `(${grow('$a')}${grow('$b')}$a = $b)`;
};
/** `$distinct` compares every pair of items in one native call. */
const distinctBomb = '$distinct([1..40000])';
/** `$toMillis` builds a backtracking RegExp from its picture: twelve adjacent word groups over a run of spaces. */
const pictureBomb = `$toMillis("${' '.repeat(40)}!", "${'[YW][MW][DW][HW][mW][sW]'.repeat(2)}")`;
/** d_i = {allOf: [{$ref: d_i+1}, {$ref: d_i+1}]}: 6 values a level, double the work per level. */
const refBomb = (levels: number) => ({
  $defs: Object.fromEntries(Array.from({ length: levels }, (_, i) => [`d${i}`, i === levels - 1 ? { type: 'object' } : { allOf: [{ $ref: `#/$defs/d${i + 1}` }, { $ref: `#/$defs/d${i + 1}` }] }])),
  $ref: '#/$defs/d0',
});
/** 999 × uniqueItems (2,000 values, within the cap) and a 1 MiB array of distinct integers: each keyword walks the whole array. */
const manyUniqueItems = { allOf: Array.from({ length: 999 }, () => ({ uniqueItems: true })) };
const megabyteOfIntegers = (() => {
  const items: number[] = [];
  for (let i = 0, length = 2; length + String(i).length + 1 < 1_000_000; i++) {
    items.push(i);
    length += String(i).length + 1;
  }
  return items;
})();

const { herald, receiver, stop } = await startHeraldWithReceiver({ HERALD_API_KEY: ADMIN_KEY, HERALD_ALLOW_PRIVATE_TARGETS: 'true' });
after(stop);

describe('hostile input is evaluated off the event loop, under a hard deadline', () => {
  const api = (method: string, route: string, body?: unknown) => herald.api(method, route, body, admin);

  /**
   * Runs `hostile` while asking /healthz over and over: every health answer is a 200, and no turn of
   * the event loop takes LONGEST_TURN_CPU_MS of the main thread's CPU or more (a timer every 10 ms
   * samples it: a turn that holds the loop shows as one long step between two samples).
   */
  const whileHealthChecked = async <T>(hostile: () => Promise<T>): Promise<T> => {
    let settled = false;
    let lastSample = mainThreadCpuMs();
    let longestTurnMs = 0;
    const sampler = setInterval(() => {
      const now = mainThreadCpuMs();
      longestTurnMs = Math.max(longestTurnMs, now - lastSample);
      lastSample = now;
    }, 10);
    const running = hostile().finally(() => void (settled = true));
    const answerTimes: number[] = [];
    try {
      while (!settled) {
        const started = performance.now();
        assert.equal((await fetch(`${herald.apiUrl}/healthz`)).status, 200);
        answerTimes.push(performance.now() - started);
        await delay(25);
      }
    } finally {
      clearInterval(sampler);
    }
    const slowest = Math.max(...answerTimes).toFixed(0);
    assert.ok(longestTurnMs < LONGEST_TURN_CPU_MS, `a turn of the event loop took ${longestTurnMs} ms of CPU while hostile input was evaluated (/healthz: ${answerTimes.length} answers, the slowest ${slowest} ms)`);
    return running;
  };

  const refusedTransform = async (body: string) => {
    const created = await whileHealthChecked(() => api('POST', '/v1/endpoints', { url: receiver.script('/never'), eventTypes: ['job.*'], transform: { body } }));
    assert.equal(created.status, 400, JSON.stringify(created.body));
    assert.deepEqual(created.body.errors.map((e: { field: string }) => e.field), ['transform.body']);
    assert.match(created.body.errors[0].message, /took longer than the \d+ ms deadline and was stopped, on a sample event/);
  };

  test('a transform that compares two deep shared objects is refused at create, naming the deadline, and /healthz keeps answering', () =>
    refusedTransform(sharedObjectBomb(22)));

  test('$distinct over 40,000 objects is stopped at the deadline', () => refusedTransform(distinctBomb));

  test('$toMillis with a picture that backtracks is stopped at the deadline', () => refusedTransform(pictureBomb));

  // Found by `npm run fuzz`: JSONata compiles a long path in time that grows with its square (5,000 steps: 1.5 s).
  test('a transform that takes long to compile is compiled off the event loop', async () => {
    const created = await whileHealthChecked(() => api('POST', '/v1/endpoints', { url: receiver.script('/never'), eventTypes: ['job.*'], transform: { body: `event.data${'.x'.repeat(5_000)}` } }));
    assert.ok([201, 400].includes(created.status), JSON.stringify(created.body));
  });

  test('a preview of a runaway transform answers 400 naming the deadline', async () => {
    const previewed = await whileHealthChecked(() => api('POST', '/v1/endpoints/preview', {
      endpoint: { url: receiver.script('/never'), transform: { body: sharedObjectBomb(22) } }, event: { type: 'job.run', data: {} },
    }));
    assert.equal(previewed.status, 400, JSON.stringify(previewed.body));
    assert.match(previewed.body.errors[0].message, /deadline/);
  });

  test('a runaway that spares the sample event fails its delivery for good at the deadline, without stalling the worker', async () => {
    const created = await api('POST', '/v1/endpoints', {
      url: receiver.script('/bypass'), eventTypes: ['job.*'], retryPolicy: { schedule: ['1s', '1s'] },
      transform: { body: `event.id = "evt_sample" ? {"sample": true} : event.data.bomb ? ${sharedObjectBomb(24)} : {"job": event.data.id}` },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const failed = await whileHealthChecked(async () => {
      assert.equal((await api('POST', '/v1/events', { id: 'job-bomb', type: 'job.run', data: { bomb: true } })).status, 202);
      return eventually(() => api('GET', `/v1/deliveries/delivery:default:job-bomb:${created.body.id}`), (r) => r.body?.status === 'failed', 60_000, 100);
    });
    assert.equal(failed.body.attempts.length, 1, 'not retried: it would run away again');
    assert.match(failed.body.attempts[0].error, /^transform failed: transform\.body: took longer than the \d+ ms deadline and was stopped/);
    assert.equal((await api('POST', '/v1/events', { id: 'job-fine', type: 'job.run', data: { id: 7 } })).status, 202);
    const [delivered] = await receiver.waitFor('/bypass', 1);
    assert.equal(delivered!.body, '{"job":7}');
  });

  test('a schema whose $refs double at every level is refused when declared, naming schema', async () => {
    const declared = await whileHealthChecked(() => api('POST', '/v1/event-types', { name: 'refs.bomb', schema: refBomb(28) }));
    assert.equal(declared.status, 400, JSON.stringify(declared.body));
    assert.deepEqual(declared.body.errors.map((e: { field: string }) => e.field), ['schema']);
    assert.match(declared.body.errors[0].message, /too large once its references are expanded/);
    // A few levels of the same shape are an ordinary schema.
    assert.equal((await api('POST', '/v1/event-types', { name: 'refs.shallow', schema: refBomb(6) })).status, 201);
    assert.equal((await api('POST', '/v1/events', { type: 'refs.shallow', data: {} })).status, 202);
  });

  test('999 × uniqueItems over a 1 MiB array is stopped at the deadline: a 400 naming it, and /healthz keeps answering', async () => {
    const declared = await api('POST', '/v1/event-types', { name: 'items.unique', schema: manyUniqueItems });
    assert.equal(declared.status, 201, JSON.stringify(declared.body));
    const ingested = await whileHealthChecked(() => api('POST', '/v1/events', { type: 'items.unique', data: megabyteOfIntegers }));
    assert.equal(ingested.status, 400, JSON.stringify(ingested.body).slice(0, 500));
    assert.deepEqual(ingested.body.errors, [{ field: 'data', message: 'checking it against the schema declared for "items.unique" took longer than the 500 ms deadline and was stopped' }]);
    // The next check runs on a fresh thread.
    assert.equal((await api('POST', '/v1/events', { type: 'items.unique', data: [1, 2, 3] })).status, 202);
  });
});
