/**
 * What one tenant may ask of Herald, so that no small request turns into thousands of POSTs
 * against a third party (issue 13, item 4). Each limit is a setting; refusals name it, and the API
 * answers them as problems (409, 429 with Retry-After).
 */
export interface Quotas {
  /** HERALD_MAX_ENDPOINTS_PER_TENANT */
  maxEndpointsPerTenant: number;
  /** HERALD_MIN_RETRY_DELAY: the shortest wait a retry policy may declare. */
  minRetryDelayMs: number;
  /** HERALD_MAX_ATTEMPTS: attempts per delivery, the first included. */
  maxAttempts: number;
  /** HERALD_MAX_RETRY_SCHEDULE: the sum of a policy's waits. */
  maxRetryScheduleMs: number;
  /** HERALD_MAX_REPLAYS_PER_MINUTE: deliveries a tenant may replay (by replay or recover) per minute. */
  replaysPerMinute: number;
}

/** Why the tenant may not register another endpoint, having `count`; undefined when it may. */
export function endpointQuotaRefusal(tenant: string, count: number, limit: number): string | undefined {
  return count < limit ? undefined : `tenant "${tenant}" has ${limit} endpoints, the most HERALD_MAX_ENDPOINTS_PER_TENANT allows; delete one first`;
}

/** A replay the tenant's allowance refuses: what to tell it, and when to ask again. */
export interface ReplayRefusal {
  refusal: string;
  retryAfterSeconds: number;
}

const MINUTE_MS = 60_000;

/**
 * Replays per tenant, as a token bucket: up to `replaysPerMinute` at once, refilled at that rate.
 * Per API process (with several API processes each allows as much).
 */
export class ReplayLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes up to `wanted` replays from the tenant's allowance and answers how many it got (at
   * least one); with none left, the refusal naming the limit and when to retry.
   * Give back what goes unused with `release`.
   */
  reserve(tenant: string, wanted = 1): { granted: number } | ReplayRefusal {
    const bucket = this.refilled(tenant);
    if (bucket.tokens < 1) {
      const waitSeconds = Math.ceil(((1 - bucket.tokens) * MINUTE_MS) / this.perMinute / 1000);
      const refusal = `tenant "${tenant}" may replay ${this.perMinute} deliveries a minute (HERALD_MAX_REPLAYS_PER_MINUTE); retry in ${waitSeconds} s`;
      return { refusal, retryAfterSeconds: waitSeconds };
    }
    const granted = Math.min(wanted, Math.floor(bucket.tokens));
    bucket.tokens -= granted;
    return { granted };
  }

  release(tenant: string, unused: number): void {
    const bucket = this.refilled(tenant);
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + unused);
  }

  private refilled(tenant: string) {
    const now = this.now();
    const bucket = this.buckets.get(tenant) ?? { tokens: this.perMinute, at: now };
    bucket.tokens = Math.min(this.perMinute, bucket.tokens + ((now - bucket.at) * this.perMinute) / MINUTE_MS);
    bucket.at = now;
    this.buckets.set(tenant, bucket);
    return bucket;
  }
}
