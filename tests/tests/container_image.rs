//! The `Dockerfile`, read without a container engine: everything it copies from the repository
//! is there (and not left out of the build context), the dashboard reaches the binary the way
//! `api/server/build.rs` looks for it, and the image runs as a numeric non-root user.

use std::path::Path;

use mirrord_usage_tests::helm::repo_dir;

/// One instruction: its keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// A build stage: its `FROM` arguments and its instructions.
#[derive(Debug)]
struct Stage {
    from: String,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn image(&self) -> &str {
        self.from.split_whitespace().last().unwrap_or_default()
    }

    fn name(&self) -> Option<&str> {
        let words: Vec<&str> = self.from.split_whitespace().collect();
        match words.as_slice() {
            [.., as_, name] if as_.eq_ignore_ascii_case("as") => Some(name),
            _ => None,
        }
    }

    fn base(&self) -> &str {
        self.from
            .split_whitespace()
            .find(|word| !word.starts_with("--"))
            .unwrap_or_default()
    }

    fn all<'a>(&'a self, keyword: &'a str) -> impl Iterator<Item = &'a Instruction> + 'a {
        self.instructions
            .iter()
            .filter(move |instruction| instruction.keyword == keyword)
    }
}

fn stages() -> Vec<Stage> {
    let text = std::fs::read_to_string(repo_dir().join("Dockerfile")).unwrap();
    let mut logical = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => {
                pending.push_str(head);
                pending.push(' ');
            }
            None => {
                pending.push_str(trimmed);
                logical.push(std::mem::take(&mut pending));
            }
        }
    }
    let mut stages: Vec<Stage> = Vec::new();
    for line in logical {
        let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
        let keyword = keyword.to_uppercase();
        let args = args.trim().to_owned();
        if keyword == "FROM" {
            stages.push(Stage {
                from: args,
                instructions: Vec::new(),
            });
        } else {
            stages
                .last_mut()
                .expect("an instruction before the first FROM")
                .instructions
                .push(Instruction { keyword, args });
        }
    }
    stages
}

/// A COPY's options (`--from=…`), sources and destination.
fn copy_parts(args: &str) -> (Vec<&str>, Vec<&str>, &str) {
    let words: Vec<&str> = args.split_whitespace().collect();
    let (options, paths): (Vec<&str>, Vec<&str>) = words.into_iter().partition(|word| word.starts_with("--"));
    let (destination, sources) = paths.split_last().expect("COPY has a destination");
    (options, sources.to_vec(), destination)
}

/// The `.dockerignore` patterns (comments and blank lines left out).
fn ignored_patterns() -> Vec<String> {
    std::fs::read_to_string(repo_dir().join(".dockerignore"))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_path_the_dockerfile_copies_from_the_repository_exists_and_is_in_the_build_context() {
    let ignored = ignored_patterns();
    let mut copied = 0;
    for stage in stages() {
        for copy in stage.all("COPY") {
            let (options, sources, _) = copy_parts(&copy.args);
            if options.iter().any(|option| option.starts_with("--from=")) {
                continue;
            }
            for source in sources {
                let path = repo_dir().join(source);
                assert!(
                    path.exists(),
                    "the Dockerfile copies {source}, which is not in the repository"
                );
                let source = source.trim_start_matches("./").trim_end_matches('/');
                for pattern in &ignored {
                    let pattern = pattern.trim_end_matches('/');
                    let excluded = source == pattern || source.starts_with(&format!("{pattern}/"));
                    assert!(
                        !excluded,
                        ".dockerignore's {pattern} leaves {source} out of the build context"
                    );
                }
                copied += 1;
            }
        }
    }
    assert!(copied >= 5, "the Dockerfile copies only {copied} paths");
    // Build output and dependencies stay out of the context.
    for heavy in ["target", "ui/node_modules", "ui/dist", ".git"] {
        assert!(
            ignored.iter().any(|pattern| pattern == heavy),
            ".dockerignore lacks {heavy}"
        );
    }
}

#[test]
fn the_image_runs_the_binary_as_a_numeric_non_root_user() {
    let stages = stages();
    let runtime = stages.last().expect("a stage");
    let user = runtime.all("USER").last().expect("the runtime stage sets USER");
    let (uid, gid) = user.args.split_once(':').unwrap_or((&user.args, ""));
    let uid: u32 = uid.parse().unwrap_or_else(|_| {
        panic!(
            "USER {} is not numeric: Kubernetes' runAsNonRoot cannot check a name",
            user.args
        )
    });
    assert_ne!(uid, 0, "USER is root");
    if !gid.is_empty() {
        let gid: u32 = gid
            .parse()
            .unwrap_or_else(|_| panic!("group of USER {} is not numeric", user.args));
        assert_ne!(gid, 0, "the group is root");
    }
    // The chart's pod runs as the same user, so the data volume's fsGroup matches.
    let values = std::fs::read_to_string(repo_dir().join("charts/mirrord-usage/values.yaml")).unwrap();
    assert!(
        values.contains(&format!("runAsUser: {uid}")),
        "values.yaml runs as another user than {uid}"
    );

    let entrypoint = runtime.all("ENTRYPOINT").last().expect("an ENTRYPOINT");
    let entrypoint: Vec<String> = serde_json::from_str(&entrypoint.args).expect("ENTRYPOINT in exec form");
    let copied_binary = runtime
        .all("COPY")
        .map(|copy| copy_parts(&copy.args).2)
        .find(|destination| *destination == entrypoint[0]);
    assert!(
        copied_binary.is_some(),
        "{} is not copied into the runtime stage",
        entrypoint[0]
    );
    assert!(entrypoint[0].ends_with("/mirrord-usage"), "{entrypoint:?}");
}

#[test]
fn the_dashboard_is_built_first_and_embedded_where_api_build_rs_looks_for_it() {
    let stages = stages();
    let ui = stages
        .iter()
        .find(|stage| stage.all("RUN").any(|run| run.args.contains("npm run build")))
        .expect("a stage that builds the dashboard");
    assert!(
        ui.all("RUN").any(|run| run.args.contains("npm ci")),
        "npm ci, from the lock file"
    );
    let ui_name = ui.name().expect("the dashboard's stage is named");

    let build = stages
        .iter()
        .find(|stage| {
            stage
                .all("RUN")
                .any(|run| run.args.contains("cargo build --release --locked"))
        })
        .expect("a stage that builds the release binary");
    let workdir = build.all("WORKDIR").last().expect("a WORKDIR").args.clone();
    let dist = build
        .all("COPY")
        .map(|copy| copy_parts(&copy.args))
        .find(|(options, _, _)| options.contains(&format!("--from={ui_name}").as_str()))
        .map(|(_, _, destination)| Path::new(&workdir).join(destination.trim_start_matches("./")))
        .expect("the build stage copies the dashboard from its stage");

    // build.rs reads the directory from MIRRORD_USAGE_UI_DIST.
    let build_rs = std::fs::read_to_string(repo_dir().join("api/server/build.rs")).unwrap();
    let env = build
        .all("ENV")
        .find_map(|env| env.args.strip_prefix("MIRRORD_USAGE_UI_DIST="))
        .expect("ENV MIRRORD_USAGE_UI_DIST in the build stage");
    assert!(
        build_rs.contains("env::var(\"MIRRORD_USAGE_UI_DIST\")"),
        "api/server/build.rs reads another variable"
    );
    assert_eq!(
        Path::new(env),
        dist,
        "MIRRORD_USAGE_UI_DIST names another directory than the copied dashboard"
    );

    // The build image is new enough for the workspace, and on the runtime's Debian release.
    let cargo_toml = std::fs::read_to_string(repo_dir().join("Cargo.toml")).unwrap();
    let rust_version = cargo_toml
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .expect("rust-version in Cargo.toml")
        .trim_matches('"');
    let image_version = build.base().trim_start_matches("rust:").split('-').next().unwrap();
    let as_numbers = |version: &str| -> Vec<u32> { version.split('.').map(|part| part.parse().unwrap()).collect() };
    assert!(
        as_numbers(image_version) >= as_numbers(rust_version),
        "{} is older than rust-version {rust_version}",
        build.base()
    );
    let runtime = stages.last().unwrap();
    assert!(
        build.base().ends_with("-bookworm") && runtime.image().contains("debian12"),
        "the binary must be built on the runtime's Debian release (glibc): {} and {}",
        build.base(),
        runtime.image()
    );
}
