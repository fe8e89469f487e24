// The per-user table: searchable, sortable by every column, 20 rows a page, with downloads.

import { useEffect, useId, useMemo, useState } from "react";
import type { ReportFormat } from "../api/client";
import type { PrimaryKey, UserMetric } from "../api/types";
import { PRIMARY_KEYS } from "../api/types";
import { EMPTY, formatCount, formatDate, formatDateTime, formatDurationShort } from "../format";
import {
  DEFAULT_USER_SORT,
  nextSort,
  PAGE_SIZE,
  pageCount,
  pageOf,
  PRIMARY_KEY_LABELS,
  visibleUsers,
  type UserSort,
  type UserSortKey,
} from "../state/userTable";
import { Pagination } from "./Pagination";
import { TableScroll } from "./TableScroll";

interface Column {
  key: UserSortKey;
  label: string;
  numeric: boolean;
}

function columns(primaryKey: PrimaryKey): Column[] {
  return [
    { key: "id", label: PRIMARY_KEY_LABELS[primaryKey], numeric: false },
    { key: "activeSince", label: "Active Since", numeric: false },
    { key: "lastSession", label: "Last Session", numeric: false },
    { key: "totalSessionTimeSeconds", label: "Total Time", numeric: true },
    { key: "sessionCount", label: "Sessions", numeric: true },
    { key: "avgSessionDurationSeconds", label: "Avg Duration", numeric: true },
  ];
}

/** The identity fields other than the one the rows are grouped by, shown under the id. */
function otherIdentity(row: UserMetric, primaryKey: PrimaryKey): string {
  const parts: Array<[PrimaryKey, string | null]> = [
    ["kubernetesUsername", row.kubernetesUsername],
    ["clientUsername", row.clientUsername],
    ["clientHostname", row.clientHostname],
  ];
  return parts
    .filter(([key, value]) => key !== primaryKey && value)
    .map(([, value]) => value)
    .join(" · ");
}

interface UserToolbarProps {
  search: string;
  onSearch: (value: string) => void;
  primaryKey: PrimaryKey;
  onPrimaryKey: (key: PrimaryKey) => void;
  /** Downloads the range's report as a file the server writes. */
  onDownload: (format: ReportFormat) => void;
  /** The download under way, if any. */
  downloading: ReportFormat | null;
}

export function UserToolbar({ search, onSearch, primaryKey, onPrimaryKey, onDownload, downloading }: UserToolbarProps) {
  const searchId = useId();
  const keyId = useId();
  return (
    <div className="table-toolbar">
      <div className="field inline">
        <label htmlFor={keyId}>Group by</label>
        <select id={keyId} value={primaryKey} onChange={(event) => onPrimaryKey(event.target.value as PrimaryKey)} data-testid="primary-key">
          {PRIMARY_KEYS.map((key) => (
            <option key={key} value={key}>
              {PRIMARY_KEY_LABELS[key]}
            </option>
          ))}
        </select>
      </div>
      <div className="field inline grow">
        <label htmlFor={searchId}>Search</label>
        <input
          id={searchId}
          type="search"
          value={search}
          placeholder="ID, user or hostname"
          onChange={(event) => onSearch(event.target.value)}
          data-testid="user-search"
        />
      </div>
      <div className="downloads">
        <button
          type="button"
          className="button"
          onClick={() => onDownload("csv")}
          aria-busy={downloading === "csv"}
          disabled={downloading !== null}
          data-testid="download-csv"
        >
          {downloading === "csv" ? "Preparing…" : "CSV"}
          <span className="visually-hidden"> of the users in this range</span>
        </button>
        <button
          type="button"
          className="button"
          onClick={() => onDownload("xlsx")}
          aria-busy={downloading === "xlsx"}
          disabled={downloading !== null}
          data-testid="download-xlsx"
        >
          {downloading === "xlsx" ? "Preparing…" : "XLSX"}
          <span className="visually-hidden"> report for this range</span>
        </button>
      </div>
    </div>
  );
}

interface UserTableProps {
  /** Rows after search and sort. */
  rows: readonly UserMetric[];
  primaryKey: PrimaryKey;
  search: string;
  sort: UserSort;
  onSort: (sort: UserSort) => void;
}

export function UserTable({ rows, primaryKey, search, sort, onSort }: UserTableProps) {
  const [page, setPage] = useState(1);
  const pages = pageCount(rows.length);

  // A new search, sort or data set starts again at the first page.
  useEffect(() => setPage(1), [rows]);
  const current = Math.min(page, pages);
  const shown = pageOf(rows, current);

  return (
    <>
      <TableScroll label="Users">
        <table className="data-table" data-testid="user-table" data-rows={rows.length}>
          <caption className="visually-hidden">
            Users by {PRIMARY_KEY_LABELS[primaryKey]}, sorted by {sort.key} {sort.direction === "asc" ? "ascending" : "descending"}
          </caption>
          <thead>
            <tr>
              {columns(primaryKey).map((column) => (
                <th
                  key={column.key}
                  scope="col"
                  className={column.numeric ? "numeric" : undefined}
                  aria-sort={sort.key === column.key ? (sort.direction === "asc" ? "ascending" : "descending") : "none"}
                >
                  <button type="button" className="sort-button" onClick={() => onSort(nextSort(sort, column.key))} data-testid={`sort-${column.key}`}>
                    {column.label}
                    <span className="sort-indicator" aria-hidden="true">
                      {sort.key === column.key ? (sort.direction === "asc" ? "▲" : "▼") : ""}
                    </span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {shown.map((row, index) => (
              <tr key={row.id ?? `row-${index}`} data-testid="user-row" data-id={row.id ?? ""}>
                <th scope="row">
                  <span className="identity">
                    <span className={primaryKey === "machineId" ? "mono" : undefined}>{row.id ?? EMPTY}</span>
                    <span className="muted small">{otherIdentity(row, primaryKey)}</span>
                  </span>
                </th>
                <td title={formatDateTime(row.activeSince)} data-value={row.activeSince}>
                  {formatDate(row.activeSince)}
                </td>
                <td title={formatDateTime(row.lastSession)} data-value={row.lastSession}>
                  {formatDate(row.lastSession)}
                </td>
                <td className="numeric" data-value={row.totalSessionTimeSeconds}>
                  {formatDurationShort(row.totalSessionTimeSeconds)}
                </td>
                <td className="numeric" data-value={row.sessionCount}>
                  {formatCount(row.sessionCount)}
                </td>
                <td className="numeric" data-value={row.avgSessionDurationSeconds}>
                  {formatDurationShort(row.avgSessionDurationSeconds)}
                </td>
              </tr>
            ))}
            {shown.length === 0 && (
              <tr>
                <td colSpan={6} className="empty-row" data-testid="user-table-empty">
                  {search ? `No users match "${search}".` : "No sessions in this range. Pick a longer range, or All."}
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </TableScroll>
      {rows.length > 0 && <Pagination page={current} total={rows.length} pageSize={PAGE_SIZE} onPage={setPage} label="User table pages" />}
    </>
  );
}

interface UserActivityProps {
  users: readonly UserMetric[];
  primaryKey: PrimaryKey;
  onPrimaryKey: (key: PrimaryKey) => void;
  onDownload: (format: ReportFormat) => void;
  downloading: ReportFormat | null;
}

export function UserActivity({ users, primaryKey, onPrimaryKey, onDownload, downloading }: UserActivityProps) {
  const [search, setSearch] = useState("");
  const [sort, setSort] = useState<UserSort>(DEFAULT_USER_SORT);
  const rows = useMemo(() => visibleUsers(users, search, sort), [users, search, sort]);
  return (
    <>
      <UserToolbar
        search={search}
        onSearch={setSearch}
        primaryKey={primaryKey}
        onPrimaryKey={onPrimaryKey}
        onDownload={onDownload}
        downloading={downloading}
      />
      <UserTable rows={rows} primaryKey={primaryKey} search={search} sort={sort} onSort={setSort} />
    </>
  );
}
