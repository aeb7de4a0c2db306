//! Test harness helpers (feature `test-util`): a real `redis-server` on a free
//! port, owned by the test and killed when dropped.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::PathBuf,
    process::Stdio,
    time::Duration,
};

use tokio::process::{Child, Command};

/// A `redis-server` child process listening on `127.0.0.1:<port>`, with no
/// persistence, killed on drop. `stop` and `restart` keep the port, so
/// clients configured with [`RedisServer::url`] can test reconnection.
#[derive(Debug)]
pub struct RedisServer {
    port: u16,
    password: Option<String>,
    child: Option<Child>,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers PING.
    ///
    /// Panics with a clear message when `redis-server` is not installed
    /// (`scripts/test` installs it).
    pub async fn start() -> Self {
        Self::start_with_password(None).await
    }

    /// Like [`RedisServer::start`], with `requirepass`.
    pub async fn start_with_password(password: Option<&str>) -> Self {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("sheetmesh-redis-{port}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create redis test dir");
        let mut server = Self { port, password: password.map(str::to_owned), child: None, dir };
        server.spawn().await;
        server
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://[:password@]127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        match &self.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}/0", self.port),
            None => format!("redis://127.0.0.1:{}/0", self.port),
        }
    }

    /// Kills the server (SIGKILL, like a crash) and waits for it to exit.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted).
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(password) = &self.password {
            command.args(["--requirepass", password]);
        }
        let child = command.spawn().expect("redis-server must be installed for the tests (scripts/test installs it)");
        self.child = Some(child);
        self.wait_ready().await;
    }

    /// Waits until the server answers PING: the readiness signal Redis gives.
    async fn wait_ready(&self) {
        let client = redis::Client::open(self.url()).expect("valid test redis url");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut conn) = client.get_multiplexed_async_connection().await {
                let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "redis-server on port {} did not start", self.port);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("bind an ephemeral port")
}

/// A listener on a free loopback port, for `serve(config, listener, shutdown)`.
pub async fn loopback_listener() -> tokio::net::TcpListener {
    tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.expect("bind loopback listener")
}
