import { cleanup, fireEvent, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { userMetric } from "../test/fixtures";
import type { ReportFormat } from "../api/client";
import { UserActivity } from "./UserActivity";

afterEach(cleanup);

const users = Array.from({ length: 45 }, (_, i) => userMetric(i));

function renderTable(onDownload = vi.fn(), onPrimaryKey = vi.fn(), downloading: ReportFormat | null = null) {
  render(<UserActivity users={users} primaryKey="machineId" onPrimaryKey={onPrimaryKey} onDownload={onDownload} downloading={downloading} />);
  return { onDownload, onPrimaryKey };
}

const ids = () => screen.getAllByTestId("user-row").map((row) => row.dataset.id);

describe("UserActivity", () => {
  it("shows 20 rows a page, most session time first, and pages through all", () => {
    renderTable();
    expect(ids()).toHaveLength(20);
    expect(ids()[0]).toBe("machine-0044");
    expect(screen.getByTestId("pagination-status").textContent).toBe("1–20 of 45 · page 1 of 3");
    const seen = new Set(ids());
    fireEvent.click(screen.getByTestId("pagination-next"));
    ids().forEach((id) => seen.add(id));
    fireEvent.click(screen.getByTestId("pagination-next"));
    expect(ids()).toHaveLength(5);
    ids().forEach((id) => seen.add(id));
    expect(seen.size).toBe(45);
    expect((screen.getByTestId("pagination-next") as HTMLButtonElement).disabled).toBe(true);
  });

  it("sorts by a column and flips on a second click", () => {
    renderTable();
    fireEvent.click(screen.getByTestId("sort-id"));
    expect(ids()[0]).toBe("machine-0000");
    fireEvent.click(screen.getByTestId("sort-id"));
    expect(ids()[0]).toBe("machine-0044");
    const header = screen.getByTestId("sort-id").closest("th")!;
    expect(header.getAttribute("aria-sort")).toBe("descending");
  });

  it("searches identity fields and starts again at page one", () => {
    renderTable();
    fireEvent.click(screen.getByTestId("pagination-next"));
    fireEvent.change(screen.getByTestId("user-search"), { target: { value: "HOST-4" } });
    // host-4 and host-40 … host-44
    expect(ids().sort()).toEqual(["machine-0004", "machine-0040", "machine-0041", "machine-0042", "machine-0043", "machine-0044"]);
    expect(screen.getByTestId("pagination-status").textContent).toContain("page 1 of 1");
  });

  it("asks the server for the range's CSV and XLSX, whatever the search", () => {
    const { onDownload } = renderTable();
    fireEvent.change(screen.getByTestId("user-search"), { target: { value: "user1@" } });
    fireEvent.click(screen.getByTestId("download-csv"));
    fireEvent.click(screen.getByTestId("download-xlsx"));
    expect(onDownload.mock.calls).toEqual([["csv"], ["xlsx"]]);
  });

  it("holds both downloads while one is under way", () => {
    renderTable(vi.fn(), vi.fn(), "csv");
    const csv = screen.getByTestId("download-csv") as HTMLButtonElement;
    expect(csv.textContent).toContain("Preparing…");
    expect(csv.getAttribute("aria-busy")).toBe("true");
    expect((screen.getByTestId("download-xlsx") as HTMLButtonElement).disabled).toBe(true);
  });

  it("names the first column after the primary key and switches it", () => {
    const { onPrimaryKey } = renderTable();
    const table = screen.getByTestId("user-table");
    expect(within(table).getAllByRole("columnheader")[0]!.textContent).toContain("Machine ID");
    fireEvent.change(screen.getByTestId("primary-key"), { target: { value: "clientHostname" } });
    expect(onPrimaryKey).toHaveBeenCalledWith("clientHostname");
  });
});
