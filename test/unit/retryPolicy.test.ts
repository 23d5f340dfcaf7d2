import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse, type Problem } from '../../src/api/problem.ts';
import { compileRetryPolicy, delayBeforeNextAttempt, retryPolicySchema } from '../../src/delivery/retryPolicy.ts';
import type { RetrySchedule } from '../../workflows/retrySchedule.ts';

const S = 1000, M = 60 * S, H = 60 * M;
const noJitter = () => 0.5;

/** Every wait a policy produces when each attempt fails, until its budget is spent. */
function waits(schedule: RetrySchedule, retryAfterMs?: number, random = noJitter): number[] {
  const result: number[] = [];
  for (let made = 1; ; made++) {
    const wait = delayBeforeNextAttempt(schedule, made, retryAfterMs, random);
    if (wait === undefined) return result;
    result.push(wait);
  }
}

test('standard is Svix\'s schedule: 8 attempts, immediately then 5s, 5m, 30m, 2h, 5h, 10h, 10h', () => {
  assert.deepEqual(waits(compileRetryPolicy('standard').schedule), [5 * S, 5 * M, 30 * M, 2 * H, 5 * H, 10 * H, 10 * H]);
});

test('make is 3 attempts at +1 s and +2 s with a 5 s timeout; none is a single attempt', () => {
  const make = compileRetryPolicy('make');
  assert.deepEqual(waits(make.schedule), [1 * S, 2 * S]);
  assert.equal(make.presetTimeoutMs, 5000);
  assert.deepEqual(waits(compileRetryPolicy('none').schedule), []);
});

test('exponential doubles up to its maximum interval and stops at maximumAttempts', () => {
  const { schedule } = compileRetryPolicy({ initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5s', maximumAttempts: 6 });
  assert.deepEqual(waits(schedule), [1 * S, 2 * S, 4 * S, 5 * S, 5 * S]);
});

test('Retry-After raises a wait but never beyond the policy\'s largest delay', () => {
  const { schedule } = compileRetryPolicy({ schedule: ['5s', '1m'] });
  assert.deepEqual(waits(schedule, 30 * S), [30 * S, 1 * M]);
  assert.deepEqual(waits(schedule, 1 * H), [1 * M, 1 * M]);
  assert.deepEqual(waits(schedule, 1 * S), [5 * S, 1 * M]);
});

test('jitter spreads each delay by at most its fraction', () => {
  const { schedule } = compileRetryPolicy({ schedule: ['10s'], jitter: 0.2 });
  assert.deepEqual(waits(schedule, undefined, () => 0), [8 * S]);
  assert.deepEqual(waits(schedule, undefined, () => 0.999999), [12 * S]);
});

test('a bad policy is rejected naming the failing field', () => {
  const fields = (value: unknown) => {
    try {
      parse(retryPolicySchema, value);
      return [];
    } catch (err) {
      return (err as Problem).errors!.map((e) => e.field);
    }
  };
  assert.deepEqual(fields({ schedule: ['5s', 'soon'] }), ['schedule.1']);
  assert.deepEqual(fields({ initialInterval: '1s', maximumAttempts: 0 }), ['maximumAttempts']);
  assert.deepEqual(fields({ schedule: ['5s'], jitter: 2 }), ['jitter']);
  assert.equal(fields('weekly').length, 1);
  assert.deepEqual(fields('standard'), []);
});
