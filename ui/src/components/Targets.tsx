// Where sessions went: sessions per namespace (chart) and per target (table), with unique users.

import { useMemo, useState, useEffect } from "react";
import type { TargetMetric } from "../api/types";
import { NamespaceChart } from "../charts/NamespaceChart";
import { formatCount, formatDurationShort } from "../format";
import type { Theme } from "../state/theme";
import { PAGE_SIZE, pageCount, pageOf } from "../state/userTable";
import { Pagination } from "./Pagination";
import { TableScroll } from "./TableScroll";

export function targetName(target: TargetMetric): string {
  if (!target.kind && !target.name) return "targetless";
  return [target.kind, target.name].filter(Boolean).join("/");
}

export function sortedTargets(targets: readonly TargetMetric[]): TargetMetric[] {
  return [...targets].sort(
    (a, b) =>
      b.sessionCount - a.sessionCount ||
      b.totalSessionTimeSeconds - a.totalSessionTimeSeconds ||
      `${a.namespace}/${targetName(a)}`.localeCompare(`${b.namespace}/${targetName(b)}`),
  );
}

function TargetTable({ targets }: { targets: readonly TargetMetric[] }) {
  const [page, setPage] = useState(1);
  const rows = useMemo(() => sortedTargets(targets), [targets]);
  useEffect(() => setPage(1), [rows]);
  const current = Math.min(page, pageCount(rows.length));
  return (
    <>
      <TableScroll label="Sessions per target">
        <table className="data-table" data-testid="target-table" data-rows={rows.length}>
          <caption className="visually-hidden">Sessions per target, most used first</caption>
          <thead>
            <tr>
              <th scope="col">Namespace</th>
              <th scope="col">Target</th>
              <th scope="col" className="numeric">
                Sessions
              </th>
              <th scope="col" className="numeric">
                Total Time
              </th>
              <th scope="col" className="numeric">
                Unique Users
              </th>
            </tr>
          </thead>
          <tbody>
            {pageOf(rows, current).map((target) => (
              <tr key={`${target.namespace}/${target.kind}/${target.name}`} data-testid="target-row">
                <td>{target.namespace ?? "—"}</td>
                <th scope="row" className="mono">
                  {targetName(target)}
                </th>
                <td className="numeric" data-value={target.sessionCount}>
                  {formatCount(target.sessionCount)}
                </td>
                <td className="numeric" data-value={target.totalSessionTimeSeconds}>
                  {formatDurationShort(target.totalSessionTimeSeconds)}
                </td>
                <td className="numeric" data-value={target.uniqueUsers}>
                  {formatCount(target.uniqueUsers)}
                </td>
              </tr>
            ))}
            {rows.length === 0 && (
              <tr>
                <td colSpan={5} className="empty-row">
                  No sessions in this range.
                </td>
              </tr>
            )}
          </tbody>
        </table>
      </TableScroll>
      {rows.length > PAGE_SIZE && (
        <Pagination page={current} total={rows.length} pageSize={PAGE_SIZE} onPage={setPage} label="Target table pages" testId="target-pagination" />
      )}
    </>
  );
}

export function Targets({ targets, theme }: { targets: readonly TargetMetric[]; theme: Theme }) {
  return (
    <div className="targets">
      <div className="card chart-card">
        <h3>Sessions per namespace</h3>
        <NamespaceChart targets={targets} theme={theme} />
      </div>
      <div className="card table-card">
        <h3>Sessions per target</h3>
        <TargetTable targets={targets} />
      </div>
    </div>
  );
}
