// What to expect before any session has been recorded.

export function NoSessionsYet() {
  return (
    <div className="notice" role="status" data-testid="empty-state">
      <p>
        <strong>No mirrord sessions recorded yet.</strong> Sessions appear here once developers or CI pipelines run mirrord
        against this cluster: the mirrord operator reports each session&apos;s start and end to this service, which stores
        them and computes these figures. Start a session (for example <code>mirrord exec --target deployment/&lt;name&gt; -- &lt;command&gt;</code>),
        then press Refresh.
      </p>
    </div>
  );
}
