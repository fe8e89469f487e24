// The time range being looked at: two date inputs, presets and a refresh button.

import { useId } from "react";
import { formatTimeOfDay } from "../format";
import { displayedDays, parseDay, PRESETS, toDay, type RangeChoice, type TimeRange } from "../state/viewState";

interface TimeframeProps {
  choice: RangeChoice;
  range: TimeRange;
  now: Date;
  lastUpdated: Date | null;
  loading: boolean;
  onChange: (choice: RangeChoice) => void;
  onRefresh: () => void;
}

export function Timeframe({ choice, range, now, lastUpdated, loading, onChange, onRefresh }: TimeframeProps) {
  const fromId = useId();
  const toId = useId();
  const { fromDay, toDay: lastDay } = displayedDays(range);
  const today = toDay(now);
  const activePreset = choice.kind === "preset" ? choice.preset : null;

  function changeFrom(value: string) {
    if (!parseDay(value)) return;
    onChange({ kind: "custom", fromDay: value, toDay: value > lastDay ? value : lastDay });
  }

  function changeTo(value: string) {
    if (!parseDay(value)) return;
    onChange({ kind: "custom", fromDay: value < fromDay ? value : fromDay, toDay: value });
  }

  return (
    <div className="timeframe">
      <div className="date-range">
        <label htmlFor={fromId}>From</label>
        <input
          id={fromId}
          type="date"
          value={fromDay}
          max={today}
          onChange={(event) => changeFrom(event.target.value)}
          data-testid="range-from"
        />
        <label htmlFor={toId}>To</label>
        <input
          id={toId}
          type="date"
          value={lastDay}
          min={fromDay}
          max={today}
          onChange={(event) => changeTo(event.target.value)}
          data-testid="range-to"
        />
        <span className="muted small">UTC</span>
      </div>
      <div className="presets" role="group" aria-label="Range presets">
        <button
          type="button"
          className="button chip"
          aria-pressed={activePreset === "month"}
          onClick={() => onChange({ kind: "preset", preset: "month" })}
          data-testid="preset-month"
        >
          This month
        </button>
        {PRESETS.map(({ preset, label }) => (
          <button
            key={preset}
            type="button"
            className="button chip"
            aria-pressed={activePreset === preset}
            onClick={() => onChange({ kind: "preset", preset })}
            data-testid={`preset-${preset}`}
          >
            {label}
            {/* The visible text starts the spoken name, so voice control finds the button by it. */}
            <span className="visually-hidden"> ({preset === "all" ? "all time" : `last ${preset.replace("d", " days")}`})</span>
          </button>
        ))}
      </div>
      <div className="refresh">
        <button type="button" className="button" onClick={onRefresh} aria-busy={loading} data-testid="refresh">
          {loading ? "Refreshing…" : "Refresh"}
        </button>
        <span className="muted small" data-testid="last-updated" data-updated-at={lastUpdated?.toISOString() ?? ""} aria-live="polite">
          {lastUpdated ? `Updated ${formatTimeOfDay(lastUpdated)}` : "Not loaded yet"}
        </span>
      </div>
    </div>
  );
}
