// A wide table's scroll box. It takes keyboard focus, so a table wider than the screen can be
// scrolled without a mouse, and is named after the table for whoever lands on it.

import type { ReactNode } from "react";

export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-scroll" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}
