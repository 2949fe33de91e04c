/** Uniform random numbers in [0, 1): `Math.random`, or a seeded source in tests. */
export type RandomSource = () => number;

/** How random the delays are: none (pure exponential), full (0..delay), or decorrelated. */
export type Jitter = 'none' | 'full' | 'decorrelated';

/** The longest delay a Node timer honours (a longer one fires at once). */
export const MAX_DELAY_MS = 2_147_483_647;

/**
 * The delay before the `attempt`-th wait (0 for the first), given the previous delay (0 for
 * the first). Stateless, so one instance serves every caller with no per-call state.
 */
export interface Backoff {
  delay(attempt: number, previous: number): number;
}

export interface ExponentialBackoffOptions {
  /** The first delay, in ms. */
  initialDelay: number;
  /** No delay is longer than this, in ms. */
  maxDelay: number;
  /** Each delay is the previous one times this (default 2). */
  multiplier?: number;
  /**
   * `full`: uniform in [0, exponential delay] (AWS "full jitter"). `decorrelated`: uniform in
   * [initialDelay, 3 x previous delay], capped (AWS "decorrelated jitter"), so a fleet that
   * failed together spreads out instead of retrying or probing in lockstep. Default `none`.
   */
  jitter?: Jitter;
  /** Default `Math.random`; pass `seededRandom(n)` for reproducible delays. */
  random?: RandomSource;
}

/** Capped exponential backoff with optional jitter; every delay is in [0, maxDelay]. */
export function exponentialBackoff(options: ExponentialBackoffOptions): Backoff {
  const { initialDelay, maxDelay } = options;
  const multiplier = options.multiplier ?? 2;
  const random = options.random ?? Math.random;
  switch (options.jitter ?? 'none') {
    case 'full':
      return {
        delay: (attempt) =>
          random() * Math.min(maxDelay, initialDelay * Math.pow(multiplier, attempt)),
      };
    case 'decorrelated':
      return {
        delay: (_attempt, previous) => {
          const upper = Math.max(initialDelay, previous) * 3;
          return Math.min(maxDelay, initialDelay + random() * (upper - initialDelay));
        },
      };
    default:
      return {
        delay: (attempt) => Math.min(maxDelay, initialDelay * Math.pow(multiplier, attempt)),
      };
  }
}

/**
 * A user's function of the attempt (cockatiel's and Polly's delay generators). A result that
 * is not a finite number >= 0, or a throw, falls back to `fallback` ms: a bad generator must
 * not make a breaker probe in a tight loop or never again. Results are capped at MAX_DELAY_MS.
 */
export function functionBackoff(fn: (attempt: number) => number, fallback: number): Backoff {
  return {
    delay: (attempt) => {
      let ms: number;
      try {
        ms = fn(attempt);
      } catch {
        return fallback;
      }
      return typeof ms === 'number' && ms >= 0 && !Number.isNaN(ms)
        ? Math.min(ms, MAX_DELAY_MS)
        : fallback;
    },
  };
}

/** A small seeded generator (mulberry32): the same seed gives the same delays. */
export function seededRandom(seed: number): RandomSource {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}
