// A titled dashboard section.

import { useId, type ReactNode } from "react";

interface SectionProps {
  title: string;
  testId: string;
  actions?: ReactNode;
  busy?: boolean;
  children: ReactNode;
}

export function Section({ title, testId, actions, busy = false, children }: SectionProps) {
  const titleId = useId();
  return (
    <section className="section" aria-labelledby={titleId} aria-busy={busy} data-testid={testId}>
      <div className="section-header">
        <h2 id={titleId}>{title}</h2>
        {actions && <div className="section-actions">{actions}</div>}
      </div>
      {children}
    </section>
  );
}
