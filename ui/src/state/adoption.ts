// Adoption: how many people start using mirrord over time, and how many come back.

import type { TrendBucket, TrendInterval, UserMetric } from "../api/types";
import type { TimeRange } from "./viewState";

const DAY_MS = 24 * 60 * 60 * 1000;

/** New users are counted per week up to a year, per month beyond. */
export function adoptionInterval(range: TimeRange): TrendInterval {
  return range.to.getTime() - range.from.getTime() <= 366 * DAY_MS ? "week" : "month";
}

/** Users ever seen by the end of each bucket: the running sum of new users. */
export function cumulativeUsers(buckets: readonly TrendBucket[]): Array<{ start: string; total: number }> {
  let total = 0;
  return buckets.map((bucket) => {
    total += bucket.newUsers;
    return { start: bucket.start, total };
  });
}

export interface Returning {
  /** Users with more than one session in the range. */
  returning: number;
  /** Users with exactly one. */
  oneTime: number;
}

/** Returning against one-time users of a range; sessions without the primary key are no user. */
export function returningUsers(users: readonly UserMetric[]): Returning {
  let returning = 0;
  let oneTime = 0;
  for (const user of users) {
    if (user.id === null || user.sessionCount === 0) continue;
    if (user.sessionCount > 1) returning += 1;
    else oneTime += 1;
  }
  return { returning, oneTime };
}
