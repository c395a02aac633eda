/**
 * Values kept by key for pages that compute the same thing again and again
 * (dashboard rows, a job's CSV users). When it reaches `max` entries it is
 * simply emptied: cheaper than tracking recency, and the next views refill it.
 * `compute` returning undefined keeps nothing.
 */
export function boundedMemo<V>(max: number): (key: string, compute: () => V | undefined) => V | undefined {
  const values = new Map<string, V>();
  return (key, compute) => {
    const hit = values.get(key);
    if (hit !== undefined) return hit;
    const value = compute();
    if (value === undefined) return undefined;
    if (values.size >= max) values.clear();
    values.set(key, value);
    return value;
  };
}
