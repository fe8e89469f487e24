// The ROI calculation: minutes saved per session, times the number of sessions since adoption.
// The viewer's estimate is kept in localStorage so it survives reloads.

export interface RoiSettings {
  userMinutesPerSession: number;
  ciMinutesPerSession: number;
}

export const DEFAULT_ROI: RoiSettings = { userMinutesPerSession: 15, ciMinutesPerSession: 15 };

/** A session saving more than a day is not a plausible estimate. */
export const MAX_MINUTES_PER_SESSION = 24 * 60;

const STORAGE_KEY = "mirrord-usage.roi";

export type MinutesInput = { ok: true; value: number } | { ok: false; message: string };

/** Validates what the viewer typed as minutes saved per session. */
export function parseMinutes(input: string): MinutesInput {
  const text = input.trim();
  if (text === "") return { ok: false, message: "Enter the minutes saved per session (0 or more)." };
  // Number("1e3") and Number("0x10") are numbers too; accept plain decimals only.
  if (!/^[-+]?(\d+\.?\d*|\.\d+)$/.test(text)) return { ok: false, message: `"${text}" is not a number of minutes.` };
  const value = Number(text);
  if (value < 0) return { ok: false, message: "Minutes saved cannot be negative." };
  if (value > MAX_MINUTES_PER_SESSION) {
    return { ok: false, message: `At most ${MAX_MINUTES_PER_SESSION} minutes (a day) per session.` };
  }
  return { ok: true, value };
}

export function hoursSaved(sessions: number, minutesPerSession: number): number {
  return (sessions * minutesPerSession) / 60;
}

export interface TimeSaved {
  developerHours: number;
  ciHours: number;
  totalHours: number;
}

export function timeSaved(userSessions: number, ciSessions: number, settings: RoiSettings): TimeSaved {
  const developerHours = hoursSaved(userSessions, settings.userMinutesPerSession);
  const ciHours = hoursSaved(ciSessions, settings.ciMinutesPerSession);
  return { developerHours, ciHours, totalHours: developerHours + ciHours };
}

function isValidMinutes(value: unknown): value is number {
  return typeof value === "number" && Number.isFinite(value) && value >= 0 && value <= MAX_MINUTES_PER_SESSION;
}

export function loadRoi(storage: Storage = localStorage): RoiSettings {
  try {
    const parsed = JSON.parse(storage.getItem(STORAGE_KEY) ?? "null") as Partial<RoiSettings> | null;
    if (parsed && isValidMinutes(parsed.userMinutesPerSession) && isValidMinutes(parsed.ciMinutesPerSession)) {
      return { userMinutesPerSession: parsed.userMinutesPerSession, ciMinutesPerSession: parsed.ciMinutesPerSession };
    }
  } catch {
    // Fall through to the defaults.
  }
  return DEFAULT_ROI;
}

export function saveRoi(settings: RoiSettings, storage: Storage = localStorage): void {
  storage.setItem(STORAGE_KEY, JSON.stringify(settings));
}
