// CSV of the user rows exactly as shown (filtered and sorted), generated in the browser.

import type { PrimaryKey, UserMetric } from "../api/types";

function cell(value: string | number | null): string {
  if (value === null) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  // Spreadsheet programs run cells that start with these as formulas.
  const guarded = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(guarded) ? `"${guarded.replace(/"/g, '""')}"` : guarded;
}

export const CSV_COLUMNS = [
  "id",
  "primaryKey",
  "kubernetesUsername",
  "clientUsername",
  "clientHostname",
  "activeSince",
  "lastSession",
  "totalSessionTimeSeconds",
  "sessionCount",
  "avgSessionDurationSeconds",
  "avgDailySessions",
] as const;

export function usersToCsv(rows: readonly UserMetric[], primaryKey: PrimaryKey): string {
  const lines = [CSV_COLUMNS.join(",")];
  for (const row of rows) {
    lines.push(
      [
        row.id,
        primaryKey,
        row.kubernetesUsername,
        row.clientUsername,
        row.clientHostname,
        row.activeSince,
        row.lastSession,
        row.totalSessionTimeSeconds,
        row.sessionCount,
        row.avgSessionDurationSeconds,
        row.avgDailySessions,
      ]
        .map(cell)
        .join(","),
    );
  }
  return `${lines.join("\r\n")}\r\n`;
}

/** Hands a blob to the browser as a file download. */
export function saveBlob(blob: Blob, filename: string): void {
  const href = URL.createObjectURL(blob);
  const link = document.createElement("a");
  link.href = href;
  link.download = filename;
  link.rel = "noopener";
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 0);
}
