//! The dashboard's committed API types match the wire types.

use mirrord_usage_crds::ui_types::{UI_TYPES_FILE, typescript};

#[test]
fn the_committed_ui_types_match_the_wire_types() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(UI_TYPES_FILE);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == typescript(),
        "{UI_TYPES_FILE} differs from what the types in crds/src generate; regenerate it with `make ui-types`"
    );
}
