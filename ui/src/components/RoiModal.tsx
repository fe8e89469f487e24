// "Adjust calculation": the viewer's estimate of minutes saved per session, with a live preview.

import { useId, useState } from "react";
import { formatCount, formatHours, formatSessionsRoundedUp } from "../format";
import { parseMinutes, timeSaved, type RoiSettings } from "../state/roi";
import { Modal } from "./Modal";

interface RoiModalProps {
  userSessions: number;
  ciSessions: number;
  settings: RoiSettings;
  onSave: (settings: RoiSettings) => void;
  onClose: () => void;
}

interface MinutesFieldProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  error: string | null;
  testId: string;
}

function MinutesField({ label, value, onChange, error, testId }: MinutesFieldProps) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="input-with-unit">
        <input
          id={id}
          type="text"
          inputMode="decimal"
          autoComplete="off"
          value={value}
          onChange={(event) => onChange(event.target.value)}
          aria-invalid={error !== null}
          aria-describedby={error ? errorId : undefined}
          data-testid={testId}
        />
        <span aria-hidden="true">min</span>
      </div>
      {error && (
        <p id={errorId} className="field-error" role="alert" data-testid={`${testId}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

export function RoiModal({ userSessions, ciSessions, settings, onSave, onClose }: RoiModalProps) {
  const [userText, setUserText] = useState(String(settings.userMinutesPerSession));
  const [ciText, setCiText] = useState(String(settings.ciMinutesPerSession));
  const user = parseMinutes(userText);
  const ci = parseMinutes(ciText);
  const valid = user.ok && ci.ok;
  const preview = valid
    ? timeSaved(userSessions, ciSessions, { userMinutesPerSession: user.value, ciMinutesPerSession: ci.value })
    : null;

  function save(event: React.FormEvent) {
    event.preventDefault();
    if (user.ok && ci.ok) onSave({ userMinutesPerSession: user.value, ciMinutesPerSession: ci.value });
  }

  return (
    <Modal
      title="Adjust calculation"
      onClose={onClose}
      testId="roi-modal"
      footer={
        <>
          <button type="button" className="button" onClick={onClose} data-testid="roi-cancel">
            Cancel
          </button>
          <button type="submit" form="roi-form" className="button primary" disabled={!valid} data-testid="roi-save">
            Save
          </button>
        </>
      }
    >
      <form id="roi-form" onSubmit={save} noValidate>
        <p className="muted">Time saved is the number of sessions since adoption times your estimate of the minutes each one saves.</p>
        <div className="roi-row">
          <div className="roi-count">
            <span className="muted">User sessions since adoption</span>
            <strong data-testid="roi-user-sessions" data-value={userSessions} title={`${formatCount(userSessions)} sessions`}>
              {formatSessionsRoundedUp(userSessions)}
            </strong>
          </div>
          <MinutesField
            label="Minutes saved per user session"
            value={userText}
            onChange={setUserText}
            error={user.ok ? null : user.message}
            testId="roi-user-minutes"
          />
        </div>
        <div className="roi-row">
          <div className="roi-count">
            <span className="muted">CI sessions since adoption</span>
            <strong data-testid="roi-ci-sessions" data-value={ciSessions} title={`${formatCount(ciSessions)} sessions`}>
              {formatSessionsRoundedUp(ciSessions)}
            </strong>
          </div>
          <MinutesField
            label="Minutes saved per CI session"
            value={ciText}
            onChange={setCiText}
            error={ci.ok ? null : ci.message}
            testId="roi-ci-minutes"
          />
        </div>
        <div className="roi-preview" aria-live="polite">
          <span className="muted">Total time saved</span>
          <strong data-testid="roi-preview-total" data-value={preview?.totalHours ?? ""}>
            {preview ? formatHours(preview.totalHours) : "—"}
          </strong>
          {preview && (
            <span className="muted small">
              {formatHours(preview.developerHours)} of developer time, {formatHours(preview.ciHours)} of CI waiting time
            </span>
          )}
        </div>
      </form>
    </Modal>
  );
}
