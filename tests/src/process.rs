//! Child processes of the control plane: output to a log file, stopped with SIGTERM and then
//! SIGKILL, and stopped by a watchdog even if this process dies without stopping them.
//!
//! The usual way to tie a child's life to its parent, `PR_SET_PDEATHSIG` in a `pre_exec` hook,
//! needs `unsafe` (which the workspace forbids) and fires when the spawning *thread* exits,
//! which for a control plane shared between tests would be too early. Instead each child gets
//! a watchdog: a `sh` that blocks reading a pipe whose only writer is this process. When this
//! process exits in any way, including SIGKILL, the kernel closes the pipe, the read returns,
//! and the watchdog stops the child. A normal stop kills the watchdog first.

use std::{
    fs::{self, File},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use nix::{
    sys::signal::{Signal, kill},
    unistd::Pid,
};

use crate::error::{IoContext as _, Result};

/// Stops the process given as `$1` once standard input closes: SIGTERM, then SIGKILL if it is
/// still there after five seconds. (Once this process is gone, init reaps the child, so
/// `kill -0` stops finding it as soon as it exits.)
const WATCHDOG: &str = r#"
read -r _ignored
kill -TERM "$1" 2>/dev/null || exit 0
i=0
while kill -0 "$1" 2>/dev/null; do
  if [ "$i" -ge 50 ]; then kill -KILL "$1" 2>/dev/null; exit 0; fi
  sleep 0.1
  i=$((i + 1))
done
"#;

/// How often a stop looks whether the process has exited.
const EXIT_POLL: Duration = Duration::from_millis(10);

/// A running child process, stopped when dropped.
#[derive(Debug)]
pub struct Supervised {
    name: &'static str,
    child: Child,
    log: PathBuf,
    watchdog: Option<Child>,
    grace: Duration,
}

impl Supervised {
    /// Spawns `command` with stdin from /dev/null and stdout and stderr written to `log`
    /// (replacing an earlier log of the same name).
    /// `grace` is how long a stop waits after SIGTERM before sending SIGKILL.
    pub fn spawn(name: &'static str, mut command: Command, log: &Path, grace: Duration) -> Result<Self> {
        let file = File::create(log).context(|| format!("opening {}", log.display()))?;
        let stderr = file.try_clone().context(|| format!("opening {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(stderr)
            .spawn()
            .context(|| format!("starting {name} ({})", command.get_program().display()))?;
        let mut supervised = Self {
            name,
            child,
            log: log.to_owned(),
            watchdog: None,
            grace,
        };
        // If the watchdog cannot start, `supervised` is dropped here and stops the child.
        let watchdog = Command::new("sh")
            .args(["-c", WATCHDOG, "mirrord-usage-watchdog"])
            .arg(supervised.id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context(|| format!("starting the watchdog of {name} (sh)"))?;
        supervised.watchdog = Some(watchdog);
        Ok(supervised)
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status if the process has exited, without waiting.
    pub fn exit_status(&mut self) -> Result<Option<ExitStatus>> {
        let name = self.name;
        self.child
            .try_wait()
            .context(|| format!("checking whether {name} is running"))
    }

    /// The last `lines` lines of the process's log, headed by its path.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        let tail = &all[all.len().saturating_sub(lines)..];
        format!(
            "---- last {} lines of {} ({}):\n{}",
            tail.len(),
            self.name,
            self.log.display(),
            tail.join("\n")
        )
    }

    /// SIGTERM, up to `grace` for the process to exit, then SIGKILL; always reaps it.
    /// Blocks the calling thread for at most `grace` plus the time the kernel needs.
    pub fn stop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            thread::sleep(EXIT_POLL);
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a process with this id exists and is not a zombie (an exited process nobody has
/// reaped yet, which a signal-0 probe would still find).
pub fn is_running(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_kills_a_process_that_ignores_sigterm_after_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "trap '' TERM; echo started; while :; do sleep 1; done"]);
        let mut process = Supervised::spawn(
            "stubborn",
            command,
            &dir.path().join("stubborn.log"),
            Duration::from_millis(200),
        )
        .unwrap();
        let pid = process.id();
        // SIGTERM must not arrive before the shell has installed its trap.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(process.log()).unwrap().contains("started") {
            assert!(Instant::now() < deadline, "the shell never started");
            thread::sleep(EXIT_POLL);
        }
        let started = Instant::now();
        process.stop();
        assert!(started.elapsed() >= Duration::from_millis(200));
        assert!(!is_running(pid));
    }

    #[test]
    fn the_watchdog_stops_the_process_when_its_pipe_closes() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sleep");
        command.arg("600");
        let mut process = Supervised::spawn(
            "sleeper",
            command,
            &dir.path().join("sleeper.log"),
            Duration::from_secs(1),
        )
        .unwrap();
        // Closing the watchdog's stdin is what the kernel does when this process dies.
        let mut watchdog = process.watchdog.take().unwrap();
        drop(watchdog.stdin.take());
        let status = process.child.wait().unwrap();
        // Once the child is reaped, the watchdog sees it gone and exits without SIGKILL.
        assert!(watchdog.wait().unwrap().success());
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(Signal::SIGTERM as i32)
        );
    }

    #[test]
    fn log_tail_shows_the_last_lines_with_the_process_name() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = Command::new("sh");
        command.args(["-c", "for i in 1 2 3 4 5; do echo line $i; done"]);
        let mut process = Supervised::spawn(
            "counter",
            command,
            &dir.path().join("counter.log"),
            Duration::from_secs(1),
        )
        .unwrap();
        process.child.wait().unwrap();
        let tail = process.log_tail(2);
        assert!(tail.contains("last 2 lines of counter"), "{tail}");
        assert!(tail.ends_with("line 4\nline 5"), "{tail}");
    }
}
