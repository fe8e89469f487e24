//! Prints the dashboard's API types (`make ui-types` writes them to ui/src/api/generated.ts).

fn main() {
    print!("{}", mirrord_usage_crds::ui_types::typescript());
}
