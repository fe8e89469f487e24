// The session log's filters, kept in the URL (`?view=log&user=alice&ci=false`) like the range.

export const LOG_PAGE_SIZE = 50;
export const LOG_PARAMS = ["user", "namespace", "ci"] as const;

export interface LogFilters {
  user: string;
  namespace: string;
  /** Only CI sessions (true), only user sessions (false), or both. */
  ci: boolean | null;
}

export const NO_FILTERS: LogFilters = { user: "", namespace: "", ci: null };

export function parseLogFilters(search: string): LogFilters {
  const params = new URLSearchParams(search);
  const ci = params.get("ci");
  return {
    user: params.get("user")?.trim() ?? "",
    namespace: params.get("namespace")?.trim() ?? "",
    ci: ci === "true" ? true : ci === "false" ? false : null,
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
  }
  const query = params.toString();
  return query ? `?${query}` : "";
}
