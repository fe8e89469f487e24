// The session log's filters, kept in the URL (`?view=log&user=alice&ci=false`) like the range.

export const LOG_PAGE_SIZE = 50;
export const LOG_PARAMS = ["user", "namespace", "ci", "closeReason"] as const;

export interface LogFilters {
  user: string;
  namespace: string;
  /** Only CI sessions (true), only user sessions (false), or both. */
  ci: boolean | null;
  /** How the operator said the sessions closed, e.g. `Unused`; empty: any. */
  closeReason: string;
}

export const NO_FILTERS: LogFilters = { user: "", namespace: "", ci: null, closeReason: "" };

export function parseLogFilters(search: string): LogFilters {
  const params = new URLSearchParams(search);
  const ci = params.get("ci");
  return {
    user: params.get("user")?.trim() ?? "",
    namespace: params.get("namespace")?.trim() ?? "",
    ci: ci === "true" ? true : ci === "false" ? false : null,
    closeReason: params.get("closeReason")?.trim() ?? "",
  };
}

/** The query string with these filters, other parameters kept; `null` drops them all. */
export function withLogFilters(search: string, filters: LogFilters | null): string {
  const params = new URLSearchParams(search);
  for (const name of LOG_PARAMS) params.delete(name);
  if (filters) {
    if (filters.user.trim()) params.set("user", filters.user.trim());
    if (filters.namespace.trim()) params.set("namespace", filters.namespace.trim());
    if (filters.ci !== null) params.set("ci", String(filters.ci));
    if (filters.closeReason.trim()) params.set("closeReason", filters.closeReason.trim());
  }
  const query = params.toString();
  return query ? `?${query}` : "";
}
