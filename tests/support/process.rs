//! `sheetmesh <component>` as a child process, the way a container runs it:
//! exactly the variables given, output to a log file (its tail goes into
//! assertion messages), SIGTERM for a graceful stop, SIGKILL for a crash,
//! killed on drop if a test ends early.

use std::{
    path::{Path, PathBuf},
    process::ExitStatus,
    time::Duration,
};

use tokio::process::{Child, Command};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_sheetmesh");

/// One running `sheetmesh <component>`.
pub struct Process {
    /// A label for messages and the log file (`agent-b`), the component by default.
    pub name: String,
    child: Child,
    log: PathBuf,
}

impl Process {
    /// Starts `sheetmesh <component>` with only `env` (and `PATH`), logging
    /// to `<logs>/<component>.log`.
    pub fn start(component: &str, env: &[(&str, String)], logs: &Path) -> Self {
        Self::start_named(component, component, env, logs)
    }

    /// [`Process::start`] with its own label, for several processes of one
    /// component; a restarted process appends to the same log.
    pub fn start_named(name: &str, component: &str, env: &[(&str, String)], logs: &Path) -> Self {
        let log = logs.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new().create(true).append(true).open(&log).unwrap();
        let stdout = file.try_clone().unwrap();
        let child = Command::new(BIN)
            .arg(component)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().map(|(key, value)| (key, value)))
            .stdout(stdout)
            .stderr(file)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start sheetmesh {component}: {error}"));
        Self { name: name.to_owned(), child, log }
    }

    /// SIGTERM (graceful: in-flight work finishes, the telemetry guard
    /// flushes spans on the way out), then waits for exit 0.
    pub async fn terminate(self) {
        let name = self.name.clone();
        let tail = self.log_tail();
        let status = self.signal_and_wait("TERM", Duration::from_secs(15)).await;
        assert_eq!(status.code(), Some(0), "sheetmesh {name} did not exit 0 on SIGTERM\n{tail}");
    }

    /// SIGKILL, like a crash or an OOM kill, and waits until it is gone.
    pub async fn kill(self) {
        let status = self.signal_and_wait("KILL", Duration::from_secs(5)).await;
        assert_eq!(status.code(), None, "killed by a signal, not exited");
    }

    async fn signal_and_wait(mut self, signal: &str, within: Duration) -> ExitStatus {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("sheetmesh {} had already exited with {status}\n{}", self.name, self.log_tail());
        }
        let pid = self.child.id().expect("process still running").to_string();
        assert!(std::process::Command::new("kill").args([&format!("-{signal}"), &pid]).status().unwrap().success());
        match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.unwrap(),
            Err(_) => panic!("sheetmesh {} still running {within:?} after SIG{signal}\n{}", self.name, self.log_tail()),
        }
    }

    /// The last lines of the process's output.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        format!("--- {} (last lines) ---\n{}", self.log.display(), lines[lines.len().saturating_sub(30)..].join("\n"))
    }
}

/// `sheetmesh health-probe <args>`: its exit code and stderr.
pub async fn health_probe(args: &[&str]) -> (Option<i32>, String) {
    let output = Command::new(BIN).arg("health-probe").args(args).env_clear().output().await.unwrap();
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}
