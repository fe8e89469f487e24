//! Who a client is: a user name and groups, which kube-apiserver reads from the client
//! certificate's CN and O attributes.

use std::fmt;

/// The name of the admin user; it is in `system:masters`, which RBAC never denies.
pub const ADMIN: &str = "admin";
/// The group that bypasses RBAC.
pub const MASTERS_GROUP: &str = "system:masters";

/// A user the control plane authenticates by client certificate.
///
/// ```
/// use mirrord_usage_tests::User;
/// let alice = User::named("alice").with_group("developers");
/// assert_eq!(alice.groups(), ["developers"]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct User {
    name: String,
    groups: Vec<String>,
}

impl User {
    /// `admin` in `system:masters`: allowed everything.
    pub fn admin() -> Self {
        Self::named(ADMIN).with_group(MASTERS_GROUP)
    }

    /// A user without groups (besides `system:authenticated`, which every authenticated
    /// request gets) and therefore, until RBAC grants it something, without permissions.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            groups: Vec::new(),
        }
    }

    pub fn with_group(mut self, group: impl Into<String>) -> Self {
        self.groups.push(group.into());
        self
    }

    pub fn with_groups<I, S>(self, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        groups.into_iter().fold(self, Self::with_group)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn groups(&self) -> &[String] {
        &self.groups
    }

    /// A file name for this user's kubeconfig: readable, and different for different users
    /// (names and groups are joined with a character that sanitising never produces).
    pub(crate) fn file_stem(&self) -> String {
        let mut stem = sanitise(&self.name);
        for group in &self.groups {
            stem.push('+');
            stem.push_str(&sanitise(group));
        }
        stem
    }
}

impl fmt::Display for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if !self.groups.is_empty() {
            write!(f, " (groups: {})", self.groups.join(", "))?;
        }
        Ok(())
    }
}

/// Keeps letters, digits, `-`, `_` and `.`; everything else becomes `%XX` so that two
/// different names never share a file.
fn sanitise(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => out.push(byte as char),
            b'.' if !out.is_empty() => out.push('.'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::User;

    #[test]
    fn file_stems_keep_users_with_different_groups_apart() {
        let plain = User::named("alice").file_stem();
        let grouped = User::named("alice").with_group("dev").file_stem();
        let odd = User::named("alice+dev").file_stem();
        assert_eq!(plain, "alice");
        assert_eq!(grouped, "alice+dev");
        assert_eq!(odd, "alice%2Bdev");
    }

    #[test]
    fn file_stems_never_contain_path_separators_or_start_with_a_dot() {
        let stem = User::named("../system:serviceaccount:ns/x").file_stem();
        assert!(!stem.contains('/'), "{stem}");
        assert!(!stem.starts_with('.'), "{stem}");
    }
}
