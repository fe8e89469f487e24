// ROI: what the time saved in the range is worth in a year against the licence, with the
// viewer's own figures (kept in the browser) and a printable summary.

import { useId, useState } from "react";
import type { UsageReport } from "../api/types";
import { EMPTY, formatAmount, formatCount, formatDecimal, formatMultiple } from "../format";
import type { RoiSettings } from "../state/roi";
import { computeRoi, loadRoiInputs, parseAmount, saveRoiInputs, type RoiInputs } from "../state/roiCalculator";
import type { TimeRange } from "../state/viewState";
import { MetricCard } from "../components/MetricCard";
import { Section } from "../components/Section";

interface AmountFieldProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  invalid: boolean;
  hint: string;
  testId: string;
}

function AmountField({ label, value, onChange, invalid, hint, testId }: AmountFieldProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="text"
        inputMode="decimal"
        autoComplete="off"
        value={value}
        onChange={(event) => onChange(event.target.value)}
        aria-invalid={invalid}
        aria-describedby={`${id}-hint`}
        data-testid={testId}
      />
      <p id={`${id}-hint`} className={invalid ? "field-error" : "small muted"}>
        {invalid ? "Enter a number of 0 or more." : hint}
      </p>
    </div>
  );
}

type Texts = Record<keyof RoiInputs, string>;

function toTexts(inputs: RoiInputs): Texts {
  return {
    developers: inputs.developers == null ? "" : String(inputs.developers),
    hourlyCost: String(inputs.hourlyCost),
    infrastructurePerYear: String(inputs.infrastructurePerYear),
    licencePerYear: String(inputs.licencePerYear),
  };
}

interface RoiViewProps {
  report: UsageReport;
  range: TimeRange;
  minutes: RoiSettings;
  onAdjustMinutes: () => void;
}

export function RoiView({ report, range, minutes, onAdjustMinutes }: RoiViewProps) {
  const [texts, setTexts] = useState<Texts>(() => toTexts(loadRoiInputs()));
  const developers = texts.developers.trim() === "" ? null : parseAmount(texts.developers);
  const amounts = { hourlyCost: parseAmount(texts.hourlyCost), infrastructurePerYear: parseAmount(texts.infrastructurePerYear), licencePerYear: parseAmount(texts.licencePerYear) };
  const developersInvalid = texts.developers.trim() !== "" && (developers === null || developers < 1);
  const valid = !developersInvalid && Object.values(amounts).every((v) => v !== null);
  const inputs: RoiInputs | null = valid
    ? { developers: developers === null ? null : Math.round(developers), hourlyCost: amounts.hourlyCost!, infrastructurePerYear: amounts.infrastructurePerYear!, licencePerYear: amounts.licencePerYear! }
    : null;

  function change(name: keyof RoiInputs, value: string) {
    const next = { ...texts, [name]: value };
    setTexts(next);
    const parsed = {
      developers: next.developers.trim() === "" ? null : parseAmount(next.developers),
      hourlyCost: parseAmount(next.hourlyCost),
      infrastructurePerYear: parseAmount(next.infrastructurePerYear),
      licencePerYear: parseAmount(next.licencePerYear),
    };
    if (parsed.hourlyCost !== null && parsed.infrastructurePerYear !== null && parsed.licencePerYear !== null && (parsed.developers === null || parsed.developers >= 1)) {
      saveRoiInputs({ ...parsed, developers: parsed.developers === null ? null : Math.round(parsed.developers) } as RoiInputs);
    }
  }

  const usage = {
    userSessions: report.generalMetrics.userSessions,
    ciSessions: report.ciMetrics.totalCiSessions,
    activeUsers: report.generalMetrics.activeUsers,
    rangeMs: range.to.getTime() - range.from.getTime(),
  };
  const result = inputs ? computeRoi(usage, minutes, inputs) : null;

  return (
    <>
      <Section
        title="Your figures"
        testId="section-roi-inputs"
        actions={
          <button type="button" className="button" onClick={onAdjustMinutes} data-testid="adjust-calculation">
            Minutes saved: {formatDecimal(minutes.userMinutesPerSession)} / {formatDecimal(minutes.ciMinutesPerSession)} CI
          </button>
        }
      >
        <div className="card roi-form">
          <AmountField
            label="Developers"
            value={texts.developers}
            onChange={(v) => change("developers", v)}
            invalid={developersInvalid}
            hint={`Empty: the ${formatCount(usage.activeUsers)} active users of the range`}
            testId="roi-developers"
          />
          <AmountField label="Cost of a developer hour" value={texts.hourlyCost} onChange={(v) => change("hourlyCost", v)} invalid={amounts.hourlyCost === null} hint="Salary and overhead" testId="roi-hourly-cost" />
          <AmountField
            label="Infrastructure saved a year"
            value={texts.infrastructurePerYear}
            onChange={(v) => change("infrastructurePerYear", v)}
            invalid={amounts.infrastructurePerYear === null}
            hint="Optional: staging environments not needed"
            testId="roi-infrastructure"
          />
          <AmountField label="Licence cost a year" value={texts.licencePerYear} onChange={(v) => change("licencePerYear", v)} invalid={amounts.licencePerYear === null} hint="What mirrord costs you" testId="roi-licence" />
        </div>
      </Section>
      <Section
        title="Return"
        testId="section-roi-result"
        actions={
          <button type="button" className="button" onClick={() => window.print()} data-testid="roi-print">
            Print summary
          </button>
        }
      >
        <p className="small muted">
          {formatCount(usage.userSessions)} user and {formatCount(usage.ciSessions)} CI sessions in the range, scaled to a year.
        </p>
        <div className="metric-grid">
          <MetricCard id="roi-hours-per-developer" label="Hours saved per developer a week" text={result ? formatDecimal(result.hoursPerDeveloperPerWeek) : EMPTY} value={result?.hoursPerDeveloperPerWeek} hint={result ? `${formatCount(result.developers)} developers` : undefined} />
          <MetricCard id="roi-hours-per-year" label="Hours saved a year" text={result ? formatCount(result.hoursPerYear) : EMPTY} value={result?.hoursPerYear} hint="Developers and CI" />
          <MetricCard id="roi-savings" label="Savings a year" text={result ? formatAmount(result.savingsPerYear) : EMPTY} value={result?.savingsPerYear} />
          <MetricCard id="roi-net" label="Net return a year" text={result ? formatAmount(result.netReturnPerYear) : EMPTY} value={result?.netReturnPerYear} hint="Savings less the licence" />
          <MetricCard id="roi-multiple" label="Return on the licence" text={result ? formatMultiple(result.returnOnLicence) : EMPTY} value={result?.returnOnLicence ?? ""} hint="Net return for each unit the licence costs" />
        </div>
      </Section>
    </>
  );
}
