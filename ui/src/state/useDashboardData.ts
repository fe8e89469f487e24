// Loads the usage report and the trends for the current view, and reloads them on demand.
// Each request has its own state so a failure shows in the sections that depend on it only.

import { useCallback, useEffect, useMemo, useState } from "react";
import { ApiError, type ApiClient } from "../api/client";
import type { TrendInterval, UsageReport, UsageSummary, UsageTrends } from "../api/types";
import { previousPeriod } from "./comparison";
import { BEGINNING_OF_TIME, chooseInterval, resolveRange, type TimeRange, type ViewState } from "./viewState";

export interface Loadable<T> {
  data: T | null;
  loading: boolean;
  error: ApiError | null;
}

const INITIAL: Loadable<never> = { data: null, loading: true, error: null };

export interface DashboardData {
  report: Loadable<UsageReport>;
  trends: Loadable<UsageTrends>;
  /** The figures of the previous period of equal length; null data for "All", which has none. */
  previous: Loadable<UsageSummary>;
  /** The range the report was asked for. */
  reportRange: TimeRange;
  /** The range shown in the date inputs and the trend chart ("All" starts at the first session). */
  shownRange: TimeRange;
  interval: TrendInterval;
  lastUpdated: Date | null;
  /** Asks again, with "now" moved to the present by `onRefresh`. */
  refresh: () => void;
  retryReport: () => void;
  retryTrends: () => void;
}

function asApiError(error: unknown): ApiError {
  return error instanceof ApiError ? error : new ApiError("failed", error instanceof Error ? error.message : String(error));
}

export function useDashboardData(
  client: ApiClient,
  view: ViewState,
  now: Date,
  onRefresh: () => void,
  onUnauthorized: (error: ApiError) => void,
): DashboardData {
  const [report, setReport] = useState<Loadable<UsageReport>>(INITIAL);
  const [trends, setTrends] = useState<Loadable<UsageTrends>>(INITIAL);
  const [previous, setPrevious] = useState<Loadable<UsageSummary>>(INITIAL);
  const [reportAttempt, setReportAttempt] = useState(0);
  const [trendsAttempt, setTrendsAttempt] = useState(0);
  const [lastUpdated, setLastUpdated] = useState<Date | null>(null);
  // The first session is an all-time fact: once known it holds for every range.
  const [firstSessionAt, setFirstSessionAt] = useState<string | null | undefined>(undefined);

  const isAll = view.range.kind === "preset" && view.range.preset === "all";
  const reportRange = useMemo(
    () => (isAll ? { from: BEGINNING_OF_TIME, to: now } : resolveRange(view.range, now)),
    [isAll, view.range, now],
  );
  const shownRange = useMemo(
    () => (isAll ? resolveRange(view.range, now, firstSessionAt ?? now.toISOString()) : reportRange),
    [isAll, view.range, now, firstSessionAt, reportRange],
  );
  const interval = chooseInterval(shownRange);
  const trendsWaitForFirstSession = isAll && firstSessionAt === undefined;

  const reportFrom = reportRange.from.getTime();
  const reportTo = reportRange.to.getTime();
  // The comparison is a hint on the cards: it fails quietly (the cards just omit it).
  useEffect(() => {
    if (isAll) {
      setPrevious({ data: null, loading: false, error: null });
      return;
    }
    const abort = new AbortController();
    const range = previousPeriod({ from: new Date(reportFrom), to: new Date(reportTo) });
    setPrevious({ data: null, loading: true, error: null });
    client.summary({ ...range, primaryKey: view.primaryKey }, abort.signal).then(
      (data) => setPrevious({ data, loading: false, error: null }),
      (error: unknown) => {
        if (!abort.signal.aborted) setPrevious({ data: null, loading: false, error: asApiError(error) });
      },
    );
    return () => abort.abort();
  }, [client, isAll, reportFrom, reportTo, view.primaryKey, reportAttempt]);

  useEffect(() => {
    const abort = new AbortController();
    setReport((previous) => ({ ...previous, loading: true, error: null }));
    client.usageReport({ from: new Date(reportFrom), to: new Date(reportTo), primaryKey: view.primaryKey }, abort.signal).then(
      (data) => {
        setReport({ data, loading: false, error: null });
        setFirstSessionAt(data.allTimeMetrics.firstSessionAt);
        setLastUpdated(new Date());
      },
      (error: unknown) => {
        if (abort.signal.aborted) return;
        const apiError = asApiError(error);
        if (apiError.kind === "unauthorized") onUnauthorized(apiError);
        setReport((previous) => ({ ...previous, loading: false, error: apiError }));
      },
    );
    return () => abort.abort();
  }, [client, reportFrom, reportTo, view.primaryKey, reportAttempt, onUnauthorized]);

  const trendFrom = shownRange.from.getTime();
  const trendTo = shownRange.to.getTime();
  useEffect(() => {
    if (trendsWaitForFirstSession) {
      setTrends((previous) => ({ ...previous, loading: true, error: null }));
      return;
    }
    const abort = new AbortController();
    setTrends((previous) => ({ ...previous, loading: true, error: null }));
    client
      .trends({ from: new Date(trendFrom), to: new Date(trendTo), primaryKey: view.primaryKey, interval }, abort.signal)
      .then(
        (data) => setTrends({ data, loading: false, error: null }),
        (error: unknown) => {
          if (abort.signal.aborted) return;
          const apiError = asApiError(error);
          if (apiError.kind === "unauthorized") onUnauthorized(apiError);
          setTrends((previous) => ({ ...previous, loading: false, error: apiError }));
        },
      );
    return () => abort.abort();
  }, [client, trendFrom, trendTo, interval, view.primaryKey, trendsAttempt, trendsWaitForFirstSession, onUnauthorized]);

  const retryReport = useCallback(() => setReportAttempt((n) => n + 1), []);
  const retryTrends = useCallback(() => setTrendsAttempt((n) => n + 1), []);
  const refresh = useCallback(() => {
    onRefresh();
    retryReport();
    retryTrends();
  }, [onRefresh, retryReport, retryTrends]);

  return { report, trends, previous, reportRange, shownRange, interval, lastUpdated, refresh, retryReport, retryTrends };
}
