// Which view of the dashboard is open, kept in the URL (`?view=users`) beside the range so an
// address opens the same view for whoever it is shared with.

export type Page = "overview" | "users" | "targets" | "seats" | "adoption" | "log" | "roi";

export const PAGES: ReadonlyArray<{ page: Page; label: string }> = [
  { page: "overview", label: "Overview" },
  { page: "users", label: "Users" },
  { page: "targets", label: "Targets" },
  { page: "seats", label: "Seats" },
  { page: "adoption", label: "Adoption" },
  { page: "log", label: "Session log" },
  { page: "roi", label: "ROI" },
];

export const DEFAULT_PAGE: Page = "overview";

export function parsePage(search: string): Page {
  const value = new URLSearchParams(search).get("view");
  return PAGES.find((entry) => entry.page === value)?.page ?? DEFAULT_PAGE;
}

/** The query string with `view` set to `page` (absent for the overview), other parameters kept. */
export function withPage(search: string, page: Page): string {
  const params = new URLSearchParams(search);
  params.delete("view");
  if (page !== DEFAULT_PAGE) params.set("view", page);
  const query = params.toString();
  return query ? `?${query}` : "";
}
