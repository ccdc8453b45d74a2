/**
 * "Did you mean": the known word closest to a misspelt one, if it is close enough to be a typo
 * (edit distance, case ignored, at most 1 for words of up to 4 letters, else 2, and less than
 * half the word). Pure.
 */

/** Levenshtein distance, stopping early above `limit` (then any value above it). */
function distance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const d = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      row.push(d);
      if (d < best) best = d;
    }
    if (best > limit) return limit + 1;
    prev = row;
  }
  return prev[b.length] as number;
}

/** The candidate closest to `word` within typo distance, or undefined; ties go to the first. */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  const w = word.toLowerCase();
  const limit = Math.min(w.length <= 4 ? 1 : 2, Math.ceil(w.length / 2) - 1);
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const c of candidates) {
    if (c === word) continue;
    const d = distance(w, c.toLowerCase(), limit);
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** ` (did you mean "x"?)`, or nothing. */
export function didYouMean(word: string, candidates: Iterable<string>): string {
  const match = closest(word, candidates);
  return match === undefined ? "" : ` (did you mean "${match}"?)`;
}
