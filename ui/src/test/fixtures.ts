// Builders for API responses used by component tests.

import type { UsageReport, UsageTrends, UserMetric } from "../api/types";

export function userMetric(i: number, overrides: Partial<UserMetric> = {}): UserMetric {
  return {
    id: `machine-${String(i).padStart(4, "0")}`,
    kubernetesUsername: `user${i}@corp.com`,
    clientUsername: `user${i}`,
    clientHostname: `host-${i}`,
    activeSince: "2026-11-01T09:00:00Z",
    lastSession: "2026-11-20T09:00:00Z",
    sessionCount: i + 1,
    totalSessionTimeSeconds: (i + 1) * 600,
    avgSessionDurationSeconds: 600,
    avgDailySessions: 0.5,
    ...overrides,
  };
}

/**
 * A report with `users` rows of `userMetric`, grouped by machine ID, so the range totals in
 * `generalMetrics` (seats, user sessions and their time) agree with the rows.
 */
export function usageReport(users = 3, overrides: Partial<UsageReport> = {}): UsageReport {
  const rows = Array.from({ length: users }, (_, i) => userMetric(i));
  return {
    generalMetrics: {
      totalLicenses: 200,
      tier: "Enterprise",
      activeUsers: users,
      reportPeriod: { from: "2026-11-01T00:00:00Z", to: "2026-11-25T00:00:00Z" },
      operatorVersion: "3.120.0",
      lastOperatorEvent: "2026-11-24T10:00:00Z",
      activeUserSessions: 2,
      licensesUsed: users,
      userSessions: rows.reduce((sum, row) => sum + row.sessionCount, 0),
      userSessionTimeSeconds: rows.reduce((sum, row) => sum + row.totalSessionTimeSeconds, 0),
      clusterName: "prod-eu",
      chartVersion: "1.30.0",
      license: null,
    },
    allTimeMetrics: {
      totalSessionCount: 1049,
      totalSessionTimeSeconds: 400 * 86400,
      totalCiSessionCount: 87,
      totalCiSessionTimeSeconds: 3600,
      maxConcurrentUserSessions: 12,
      firstSessionAt: "2025-01-15T08:00:00Z",
    },
    ciMetrics: { currentRunningSessions: 1, maxConcurrentCiSessions: 4, totalCiSessions: 20, avgCiSessionDurationSeconds: 300 },
    userMetrics: rows,
    targetMetrics: [
      { namespace: "shop", kind: "Deployment", name: "api", sessionCount: 10, totalSessionTimeSeconds: 3600, uniqueUsers: 3 },
      { namespace: null, kind: null, name: null, sessionCount: 2, totalSessionTimeSeconds: 60, uniqueUsers: 1 },
    ],
    ...overrides,
  };
}

export function usageTrends(): UsageTrends {
  return {
    interval: "day",
    reportPeriod: { from: "2026-11-01T00:00:00Z", to: "2026-11-03T00:00:00Z" },
    buckets: [
      { start: "2026-11-01T00:00:00Z", userSessions: 3, ciSessions: 1, sessionTimeSeconds: 3600, activeUsers: 2, newUsers: 2 },
      { start: "2026-11-02T00:00:00Z", userSessions: 5, ciSessions: 0, sessionTimeSeconds: 7200, activeUsers: 3, newUsers: 1 },
    ],
  };
}
