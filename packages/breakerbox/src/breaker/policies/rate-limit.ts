/** Calls covered by the lookup table at most (4 bytes each); past it, the check divides. */
const MAX_TABLE_CALLS = 10_000;
/** A count no window reaches: the rate cannot trip on that many calls. */
const NEVER = 0xffff_ffff;

/**
 * "count / calls reaches `rate`, on at least `minimumCalls` calls", decided on the call path
 * with one lookup and one comparison: for each number of calls the window can hold, the
 * smallest count that trips is worked out once, with the very division the check would do,
 * so the lookup agrees with it exactly (no float rounding of `rate * calls` to disagree).
 * Past the table (a time window holds any number of calls) the check divides.
 */
export class RateLimit {
  /** `needed[calls]`: the smallest count that trips on that many calls, NEVER below the minimum. */
  private readonly needed: Uint32Array;

  constructor(
    private readonly rate: number,
    private readonly minimumCalls: number,
    /** The most calls the window can hold: Infinity for a time window. */
    maxCalls: number,
  ) {
    const last = Math.min(Number.isFinite(maxCalls) ? maxCalls : minimumCalls, MAX_TABLE_CALLS);
    this.needed = new Uint32Array(last + 1).fill(NEVER);
    for (let calls = Math.max(1, minimumCalls); calls <= last; calls++) {
      // `rate * calls` is off by at most one either way; the division decides. The rate is in
      // (0, 1], so a count of 0 never trips and a count of `calls` always does.
      let count = Math.max(1, Math.ceil(rate * calls) - 1);
      while (count < calls && !(count / calls >= rate)) count++;
      this.needed[calls] = count;
    }
  }

  /** Whether `count` out of `calls` trips. */
  reached(count: number, calls: number): boolean {
    const needed = this.needed;
    return calls < needed.length
      ? count >= needed[calls]!
      : calls >= this.minimumCalls && count / calls >= this.rate;
  }
}
