// The ROI calculator: what the time mirrord saves is worth in a year, against what it costs.
// The range's sessions are scaled to a year; the viewer's inputs stay in localStorage.

import type { RoiSettings } from "./roi";

export interface RoiInputs {
  /** Developers the licence is for; empty means the range's active users. */
  developers: number | null;
  /** Cost of a developer hour, in the viewer's currency. */
  hourlyCost: number;
  /** Infrastructure saved in a year (fewer staging environments, say). */
  infrastructurePerYear: number;
  /** What the licence costs in a year. */
  licencePerYear: number;
}

export const DEFAULT_ROI_INPUTS: RoiInputs = { developers: null, hourlyCost: 75, infrastructurePerYear: 0, licencePerYear: 0 };

const STORAGE_KEY = "mirrord-usage.roi-calculator";
const DAY_MS = 24 * 60 * 60 * 1000;
const WEEKS_PER_YEAR = 365 / 7;

export interface RoiUsage {
  userSessions: number;
  ciSessions: number;
  activeUsers: number;
  /** Length of the range the sessions are from. */
  rangeMs: number;
}

export interface RoiResult {
  developers: number;
  hoursPerDeveloperPerWeek: number;
  hoursPerYear: number;
  savingsPerYear: number;
  netReturnPerYear: number;
  /** Net return per unit of licence cost; null when the licence cost is not given. */
  returnOnLicence: number | null;
}

export function computeRoi(usage: RoiUsage, minutes: RoiSettings, inputs: RoiInputs): RoiResult | null {
  const weeks = usage.rangeMs / (7 * DAY_MS);
  const developers = inputs.developers ?? usage.activeUsers;
  if (!(weeks > 0) || developers <= 0) return null;
  const userHoursPerWeek = (usage.userSessions * minutes.userMinutesPerSession) / 60 / weeks;
  const ciHoursPerWeek = (usage.ciSessions * minutes.ciMinutesPerSession) / 60 / weeks;
  const hoursPerYear = (userHoursPerWeek + ciHoursPerWeek) * WEEKS_PER_YEAR;
  const savingsPerYear = hoursPerYear * inputs.hourlyCost + inputs.infrastructurePerYear;
  const netReturnPerYear = savingsPerYear - inputs.licencePerYear;
  return {
    developers,
    hoursPerDeveloperPerWeek: userHoursPerWeek / developers,
    hoursPerYear,
    savingsPerYear,
    netReturnPerYear,
    returnOnLicence: inputs.licencePerYear > 0 ? netReturnPerYear / inputs.licencePerYear : null,
  };
}

/** A non-negative amount typed by the viewer, or null. */
export function parseAmount(text: string): number | null {
  const trimmed = text.trim().replace(/,/g, "");
  if (!/^(\d+\.?\d*|\.\d+)$/.test(trimmed)) return null;
  const value = Number(trimmed);
  return Number.isFinite(value) && value <= 1e12 ? value : null;
}

export function loadRoiInputs(storage: Storage = localStorage): RoiInputs {
  try {
    const saved = JSON.parse(storage.getItem(STORAGE_KEY) ?? "null") as Partial<RoiInputs> | null;
    if (!saved) return DEFAULT_ROI_INPUTS;
    const amount = (value: unknown, fallback: number) => (typeof value === "number" && Number.isFinite(value) && value >= 0 ? value : fallback);
    return {
      developers: typeof saved.developers === "number" && saved.developers > 0 ? Math.round(saved.developers) : null,
      hourlyCost: amount(saved.hourlyCost, DEFAULT_ROI_INPUTS.hourlyCost),
      infrastructurePerYear: amount(saved.infrastructurePerYear, 0),
      licencePerYear: amount(saved.licencePerYear, 0),
    };
  } catch {
    return DEFAULT_ROI_INPUTS;
  }
}

export function saveRoiInputs(inputs: RoiInputs, storage: Storage = localStorage): void {
  storage.setItem(STORAGE_KEY, JSON.stringify(inputs));
}
