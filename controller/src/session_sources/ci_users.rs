//! `--ci-kubernetes-users`: Kubernetes users whose sessions are CI runs. The operator's summary
//! has no CI marker, so this is how its sessions of CI service accounts are told apart.

use std::str::FromStr;

/// Glob patterns (`*` matches any run of characters) over Kubernetes user names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CiUsers {
    patterns: Vec<String>,
}

impl CiUsers {
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether sessions of this Kubernetes user are CI runs.
    pub fn matches(&self, kubernetes_username: &str) -> bool {
        self.patterns
            .iter()
            .any(|pattern| glob_matches(pattern, kubernetes_username))
    }
}

impl FromStr for CiUsers {
    type Err = String;

    /// A comma-separated list of patterns; blanks around them are ignored.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let patterns: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|pattern| !pattern.is_empty())
            .map(str::to_owned)
            .collect();
        if let Some(bad) = patterns.iter().find(|pattern| pattern.chars().all(|c| c == '*')) {
            return Err(format!(
                "the pattern {bad:?} would mark every session as CI; name the CI users, e.g. system:serviceaccount:ci:*"
            ));
        }
        Ok(CiUsers { patterns })
    }
}

fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names_with_stars_for_any_run() {
        let users: CiUsers = "system:serviceaccount:ci:*, gitlab-runner ,*-bot".parse().unwrap();
        assert!(users.matches("system:serviceaccount:ci:deployer"));
        assert!(users.matches("system:serviceaccount:ci:"));
        assert!(users.matches("gitlab-runner"));
        assert!(users.matches("release-bot"));
        assert!(!users.matches("system:serviceaccount:dev:deployer"));
        assert!(!users.matches("gitlab-runner-2"));
        assert!(!users.matches("alice@corp.com"));
        let middle: CiUsers = "a*b*c".parse().unwrap();
        assert!(middle.matches("abc") && middle.matches("axxbyyc"));
        assert!(!middle.matches("acb") && !middle.matches("abcx"));
    }

    #[test]
    fn an_empty_setting_marks_nobody_and_a_lone_star_is_refused() {
        let none: CiUsers = " , ".parse().unwrap();
        assert!(none.is_empty() && !none.matches("anyone"));
        let error = "ci:*,*".parse::<CiUsers>().unwrap_err();
        assert!(error.contains("\"*\""), "{error}");
    }
}
