//! The committed CustomResourceDefinition (the one the chart installs) matches the types.

use mirrord_usage_crds::usage_report::{CRD_FILE, crd_yaml};

#[test]
fn the_committed_crd_matches_the_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(CRD_FILE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == crd_yaml(),
        "{CRD_FILE} differs from what the types in crds/src/usage_report.rs generate; \
         regenerate it with `make crd` (cargo run -p mirrord-usage -- crdgen > {CRD_FILE})"
    );
}
