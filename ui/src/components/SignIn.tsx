// Sign-in with a license key or a bearer token.

import { useId, useState } from "react";
import type { Credentials } from "../api/credentials";

interface SignInProps {
  message: string | null;
  onSignIn: (credentials: Credentials) => void;
}

export function SignIn({ message, onSignIn }: SignInProps) {
  const [kind, setKind] = useState<Credentials["kind"]>("licenseKey");
  const [value, setValue] = useState("");
  const [touched, setTouched] = useState(false);
  const secretId = useId();
  const hintId = useId();
  const trimmed = value.trim();

  function submit(event: React.FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (trimmed) onSignIn({ kind, value: trimmed });
  }

  return (
    <main className="sign-in">
      <form className="card sign-in-card" onSubmit={submit} data-testid="sign-in" noValidate>
        <h1>Sign in to mirrord usage</h1>
        {message && (
          <p className="notice error" role="alert" data-testid="sign-in-message">
            {message}
          </p>
        )}
        <fieldset className="segmented">
          <legend>Sign in with</legend>
          <label className={kind === "licenseKey" ? "selected" : undefined}>
            <input type="radio" name="kind" checked={kind === "licenseKey"} onChange={() => setKind("licenseKey")} data-testid="sign-in-kind-key" />
            License key
          </label>
          <label className={kind === "bearerToken" ? "selected" : undefined}>
            <input type="radio" name="kind" checked={kind === "bearerToken"} onChange={() => setKind("bearerToken")} data-testid="sign-in-kind-token" />
            Bearer token
          </label>
        </fieldset>
        <div className="field">
          <label htmlFor={secretId}>{kind === "licenseKey" ? "License key" : "Bearer token"}</label>
          <input
            id={secretId}
            type="password"
            autoComplete="off"
            spellCheck={false}
            value={value}
            onChange={(event) => setValue(event.target.value)}
            aria-describedby={hintId}
            aria-invalid={touched && !trimmed}
            data-testid="sign-in-secret"
          />
          <p id={hintId} className="muted small">
            {kind === "licenseKey"
              ? "The mirrord license key of this installation. It is kept in this browser tab only."
              : "A token the server accepts, for example one made with kubectl create token. It is kept in this browser tab only."}
          </p>
          {touched && !trimmed && (
            <p className="field-error" role="alert">
              Enter a {kind === "licenseKey" ? "license key" : "token"} to continue.
            </p>
          )}
        </div>
        <button type="submit" className="button primary" data-testid="sign-in-submit">
          Sign in
        </button>
      </form>
    </main>
  );
}
