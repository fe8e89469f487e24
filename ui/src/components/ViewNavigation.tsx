// The top navigation: one link per view. Links keep the range and primary key, so a view opened
// in a new tab shows the same period.

import type { MouseEvent } from "react";
import { PAGES, withPage, type Page } from "../state/page";

interface ViewNavigationProps {
  current: Page;
  search: string;
  onNavigate: (page: Page) => void;
}

export function ViewNavigation({ current, search, onNavigate }: ViewNavigationProps) {
  function follow(event: MouseEvent<HTMLAnchorElement>, page: Page) {
    // Modified clicks open a new tab as links do; a plain click switches in place.
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    onNavigate(page);
  }
  return (
    <nav className="view-nav" aria-label="Views" data-testid="view-nav">
      <ul>
        {PAGES.map(({ page, label }) => (
          <li key={page}>
            <a
              href={withPage(search, page) || "?"}
              aria-current={page === current ? "page" : undefined}
              onClick={(event) => follow(event, page)}
              data-testid={`nav-${page}`}
            >
              {label}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
