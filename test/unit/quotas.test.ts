import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { retryLimitRefusals, type RetryPolicy } from '../../src/delivery/retryPolicy.ts';
import { ReplayLimiter } from '../../src/quotas.ts';

const defaults = loadConfig({}).quotas;

describe('retry policies within the quotas', () => {
  test('the defaults: 1 s minimum delay, 50 attempts, waits adding up to 7 days', () => {
    assert.deepEqual(
      { min: defaults.minRetryDelayMs, attempts: defaults.maxAttempts, total: defaults.maxRetryScheduleMs },
      { min: 1000, attempts: 50, total: 7 * 86_400_000 },
    );
  });

  test('every preset and the documented examples fit the defaults', () => {
    const documented: RetryPolicy[] = ['standard', 'make', 'none', { schedule: ['5s', '5m', '30m'] }, { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1h', maximumAttempts: 10 }];
    for (const policy of documented) {
      assert.deepEqual(retryLimitRefusals(policy, defaults), [], JSON.stringify(policy));
    }
  });

  test('a wait shorter than the minimum is refused at its index, naming the setting', () => {
    assert.deepEqual(retryLimitRefusals({ schedule: ['1s', '0ms', '999ms'] }, defaults), [
      { field: 'retryPolicy.schedule.1', message: 'at least 1s (HERALD_MIN_RETRY_DELAY)' },
      { field: 'retryPolicy.schedule.2', message: 'at least 1s (HERALD_MIN_RETRY_DELAY)' },
    ]);
    assert.deepEqual(retryLimitRefusals({ initialInterval: '0ms', maximumAttempts: 3 }, defaults), [
      { field: 'retryPolicy.initialInterval', message: 'at least 1s (HERALD_MIN_RETRY_DELAY)' },
    ]);
  });

  test('100 attempts are refused over the 50-attempt limit', () => {
    assert.deepEqual(retryLimitRefusals({ initialInterval: '1s', backoffCoefficient: 1, maximumAttempts: 100 }, defaults), [
      { field: 'retryPolicy.maximumAttempts', message: 'at most 50 attempts (HERALD_MAX_ATTEMPTS); this policy makes 100' },
    ]);
    assert.equal(retryLimitRefusals({ schedule: Array(49).fill('1s') }, defaults).length, 0, '49 waits are 50 attempts');
    assert.equal(retryLimitRefusals({ schedule: Array(50).fill('1s') }, defaults)[0]?.field, 'retryPolicy.schedule');
  });

  test('waits adding up to more than the schedule limit are refused', () => {
    assert.deepEqual(retryLimitRefusals({ schedule: ['7d', '1s'] }, defaults), [
      { field: 'retryPolicy.schedule', message: 'its waits add up to 604801s, more than 7d (HERALD_MAX_RETRY_SCHEDULE)' },
    ]);
    const exponential = { initialInterval: '1h', backoffCoefficient: 2, maximumAttempts: 10 };
    assert.match(retryLimitRefusals(exponential, defaults)[0]?.message ?? '', /add up to 511h, more than 7d/);
  });

  test('limits are settings', () => {
    const quotas = loadConfig({ HERALD_MIN_RETRY_DELAY: '100ms', HERALD_MAX_ATTEMPTS: '3', HERALD_MAX_RETRY_SCHEDULE: '1m' }).quotas;
    assert.deepEqual(retryLimitRefusals({ schedule: ['100ms', '200ms'] }, quotas), []);
    assert.equal(retryLimitRefusals({ schedule: ['1s', '1s', '1s'] }, quotas).length, 1);
    assert.equal(retryLimitRefusals('standard', quotas).length, 2, 'a preset is held to the same limits');
  });
});

describe('the replay limiter', () => {
  test('a tenant replays up to its allowance, then is refused naming the limit and when to retry; time refills it', () => {
    let now = 0;
    const limiter = new ReplayLimiter(60, () => now);
    assert.deepEqual(limiter.reserve('acme', 1000), { granted: 60 }, 'a recover gets at most the allowance');
    const refused = limiter.reserve('acme');
    assert.ok('refusal' in refused);
    assert.match(refused.refusal, /HERALD_MAX_REPLAYS_PER_MINUTE/);
    assert.equal(refused.retryAfterSeconds, 1);
    assert.deepEqual(limiter.reserve('other'), { granted: 1 }, 'tenants have their own allowance');
    now += 10_000;
    assert.deepEqual(limiter.reserve('acme', 1000), { granted: 10 }, 'ten seconds refill ten of sixty a minute');
    limiter.release('acme', 4);
    assert.deepEqual(limiter.reserve('acme', 1000), { granted: 4 }, 'unused replays are given back');
  });
});
