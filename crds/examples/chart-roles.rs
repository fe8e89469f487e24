//! Prints the rules of the chart's ClusterRoles (`make chart-roles` writes them to
//! charts/mirrord-usage/files/cluster-role-rules.yaml).

fn main() {
    print!("{}", mirrord_usage_crds::rbac::rules_yaml());
}
