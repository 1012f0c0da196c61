// The few statistics the benchmarks report: medians over rounds, ratios to three decimals.

/** The median (the mean of the middle two for an even count); 0 for no values. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  if (s.length === 0) return 0;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The median rounded to a whole number (milliseconds, bytes, commits per second). */
export const medianRounded = (xs: number[]): number => Math.round(median(xs));

/** a / b to three decimals (b below 1 counts as 1, so an instant step does not divide by zero). */
export const ratio = (a: number, b: number): number => Number((a / Math.max(1, b)).toFixed(3));
