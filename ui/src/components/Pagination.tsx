// Previous / next paging with the position in words.

import { formatCount } from "../format";
import { pageCount } from "../state/userTable";

interface PaginationProps {
  page: number;
  total: number;
  pageSize: number;
  onPage: (page: number) => void;
  label: string;
  testId?: string;
}

export function Pagination({ page, total, pageSize, onPage, label, testId = "pagination" }: PaginationProps) {
  const pages = pageCount(total, pageSize);
  const first = total === 0 ? 0 : (page - 1) * pageSize + 1;
  const last = Math.min(total, page * pageSize);
  return (
    <nav className="pagination" aria-label={label} data-testid={testId} data-page={page} data-pages={pages} data-total={total}>
      <button
        type="button"
        className="button"
        onClick={() => onPage(page - 1)}
        disabled={page <= 1}
        data-testid={`${testId}-prev`}
      >
        Previous
      </button>
      <span className="pagination-status" data-testid={`${testId}-status`} aria-live="polite">
        {formatCount(first)}–{formatCount(last)} of {formatCount(total)} · page {formatCount(page)} of {formatCount(pages)}
      </span>
      <button
        type="button"
        className="button"
        onClick={() => onPage(page + 1)}
        disabled={page >= pages}
        data-testid={`${testId}-next`}
      >
        Next
      </button>
    </nav>
  );
}
