//! The rules the chart installs (its ClusterRoles and the controller's) match crds/src/rbac.rs.

use mirrord_usage_crds::rbac::{RULES_FILE, rules_yaml};

#[test]
fn the_committed_chart_rules_match_the_roles() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(RULES_FILE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == rules_yaml(),
        "{RULES_FILE} differs from what crds/src/rbac.rs generates; regenerate it with `make chart-roles`"
    );
}
