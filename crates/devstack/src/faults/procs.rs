//! The real processes of a fault scenario: `seqrd serve` and `seqr-sim` children (killed with SIGKILL), and the
//! throwaway Postgres and RabbitMQ servers a scenario that stops one runs on its own (never the machine's shared
//! ones), removed when dropped, also when the scenario fails.

use std::{
    future::Future,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
};

use super::say;

/// Waits for `condition`, checking every 100 ms, at most `within`; the error says what it waited for.
pub async fn wait_for<F, Fut>(within: Duration, what: &str, mut condition: F) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if condition().await {
            return Ok(started.elapsed());
        }
        if started.elapsed() >= within {
            anyhow::bail!("waited {within:?} for {what}, in vain");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A port nobody listens on right now (the kernel's choice for port 0).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok()
}

/// A binary built beside this one (`ops/faults` builds `seqrd`, `seqr-sim` and the runner into one target dir).
pub fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("this executable's path")?;
    let path = exe.with_file_name(name);
    anyhow::ensure!(path.exists(), "{} is missing: build it (`ops/faults` does)", path.display());
    Ok(path)
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<Stdio> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(name))
        .with_context(|| format!("creating {name} in {}", dir.display()))?;
    Ok(Stdio::from(file))
}

/// Runs a command to its end; its output goes to `log` (appended) in `dir`.
pub async fn run_logged(
    dir: &Path,
    log: &str,
    program: &str,
    args: &[&str],
    env: &[(&str, String)],
) -> anyhow::Result<()> {
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(log_file(dir, log)?)
        .stderr(log_file(dir, log)?)
        .status()
        .await
        .with_context(|| format!("running {program}"))?;
    anyhow::ensure!(
        status.success(),
        "{program} {} failed ({status}); see {}",
        args.join(" "),
        dir.join(log).display()
    );
    Ok(())
}

/// Runs one SQL statement through `psql` and returns its unaligned output: only the set-up of a throwaway Postgres
/// as its superuser (its role and database), as ops/up does it; everything the scenarios read goes through
/// seqrd's HTTP API and store-pg.
pub async fn psql(database_url: &str, sql: &str) -> anyhow::Result<String> {
    let out = Command::new("psql")
        .args([database_url, "-qtAX", "-v", "ON_ERROR_STOP=1", "-c", sql])
        .stdin(Stdio::null())
        .output()
        .await
        .context("running psql")?;
    anyhow::ensure!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr).trim());
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// How one `seqrd serve` child is started (the same settings again after each kill).
#[derive(Clone, Debug)]
pub struct SeqrdSpec {
    pub instance: String,
    pub port: u16,
    pub database_url: String,
    pub amqp_url: String,
    pub seqr_url: String,
    pub exchange: String,
}

impl SeqrdSpec {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// DATABASE_URL with the instance id as Postgres' application_name, so the runner can tell whose session
    /// holds a lock.
    fn database_url(&self) -> String {
        let sep = if self.database_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}application_name={}", self.database_url, self.instance)
    }
}

/// A running `seqrd serve` (every part), its stderr appended to `seqrd-<instance>.log` in the scenario's directory.
pub struct Seqrd {
    pub spec: SeqrdSpec,
    child: Option<Child>,
    dir: PathBuf,
    binary: PathBuf,
    pub starts: u32,
}

impl Seqrd {
    pub async fn start(spec: SeqrdSpec, dir: &Path) -> anyhow::Result<Seqrd> {
        let mut s = Seqrd { spec, child: None, dir: dir.to_owned(), binary: sibling_binary("seqrd")?, starts: 0 };
        s.spawn()?;
        Ok(s)
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let s = &self.spec;
        let log = format!("seqrd-{}.log", s.instance);
        let child = Command::new(&self.binary)
            .arg("serve")
            .env("DATABASE_URL", s.database_url())
            .env("AMQP_URL", &s.amqp_url)
            .env("SEQR_URL", &s.seqr_url)
            .env("SEQRD_HTTP_ADDR", format!("127.0.0.1:{}", s.port))
            // Several processes on one host: each admin listener on a port of its own.
            .env("SEQRD_ADMIN_ADDR", "127.0.0.1:0")
            .env("SEQRD_INSTANCE_ID", &s.instance)
            .env("SEQRD_EXCHANGE", &s.exchange)
            // An invoice nobody attends backs off to this poll interval (default 60 s): a sendInvoice whose answer
            // was lost is resolved on the first poll after 85 s, so the suite keeps that poll within seconds.
            .env("SEQRD_POLL_MAX_MS", "5000")
            .env("RUST_LOG", std::env::var("SEQRD_FAULTS_LOG").unwrap_or_else(|_| "info,sqlx=warn,lapin=warn".into()))
            .stdin(Stdio::null())
            .stdout(log_file(&self.dir, &log)?)
            .stderr(log_file(&self.dir, &log)?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        self.starts += 1;
        Ok(())
    }

    /// Waits until its API answers `/health/live`.
    pub async fn wait_live(&self, http: &reqwest::Client, within: Duration) -> anyhow::Result<Duration> {
        let url = format!("{}/health/live", self.spec.base_url());
        wait_for(within, &format!("seqrd {} to answer {url}", self.spec.instance), || async {
            http.get(&url).send().await.is_ok_and(|r| r.status().is_success())
        })
        .await
    }

    /// SIGKILL, and wait for the process to be gone.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.start_kill().context("SIGKILL")?;
            child.wait().await?;
        }
        Ok(())
    }

    /// Starts it again with the same settings (and instance id).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        anyhow::ensure!(self.child.is_none(), "seqrd {} is still running", self.spec.instance);
        self.spawn()
    }

    /// Whether it exited by itself (it was not killed by the runner); the exit status if so.
    pub fn exited(&mut self) -> Option<String> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(Some(status)) => Some(status.to_string()),
            _ => None,
        }
    }

    /// Restarts it when it exited by itself; returns how it exited.
    pub fn revive(&mut self) -> anyhow::Result<Option<String>> {
        let Some(status) = self.exited() else { return Ok(None) };
        self.child = None;
        self.spawn()?;
        Ok(Some(status))
    }
}

/// A `seqr-sim` child on a free port.
pub struct SeqrSim {
    pub base: String,
    _child: Child,
}

impl SeqrSim {
    pub async fn start(dir: &Path) -> anyhow::Result<SeqrSim> {
        let binary = sibling_binary("seqr-sim")?;
        let mut child = Command::new(&binary)
            .args(["--port", "0"])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file(dir, "seqr-sim.log")?)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let stdout = child.stdout.take().context("seqr-sim's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("seqr-sim did not say where it listens within 20 s")??
            .context("seqr-sim exited before listening")?;
        let base = line.strip_prefix("seqr-sim listening on ").context("seqr-sim's first line")?.trim().to_owned();
        // Keep draining its stdout so it never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(SeqrSim { base, _child: child })
    }

    pub fn soap_url(&self) -> String {
        format!("{}/extclientproxy/service/v2", self.base)
    }
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// A throwaway Postgres server (initdb in a temp directory owned by `postgres`, trust auth on 127.0.0.1, a free
/// port), with a database `faults` owned by the role `faults`, migrated by `seqrd migrate`. Stopped and removed
/// when dropped.
pub struct ThrowawayPostgres {
    pub port: u16,
    data: PathBuf,
    root: PathBuf,
    pub database_url: String,
}

impl ThrowawayPostgres {
    pub async fn start(dir: &Path) -> anyhow::Result<ThrowawayPostgres> {
        let port = free_port()?;
        let root = std::env::temp_dir().join(format!("seqrd-faults-pg-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        let data = root.join("data");
        let pg = ThrowawayPostgres {
            port,
            data: data.clone(),
            root: root.clone(),
            database_url: format!("postgres://faults@127.0.0.1:{port}/faults?sslmode=disable"),
        };
        run_logged(dir, "postgres.log", "chown", &["postgres:postgres", &root.to_string_lossy()], &[]).await?;
        let initdb = format!("{PG_BIN}/initdb");
        let data_s = data.to_string_lossy().into_owned();
        run_logged(
            dir,
            "postgres.log",
            "runuser",
            &["-u", "postgres", "--", &initdb, "-D", &data_s, "-A", "trust", "-U", "postgres", "--no-sync"],
            &[],
        )
        .await?;
        pg.start_server(dir).await?;
        let su = format!("postgres://postgres@127.0.0.1:{port}/postgres?sslmode=disable");
        psql(&su, "CREATE ROLE faults LOGIN").await?;
        psql(&su, "CREATE DATABASE faults OWNER faults").await?;
        let seqrd = sibling_binary("seqrd")?;
        run_logged(
            dir,
            "postgres.log",
            &seqrd.to_string_lossy(),
            &["migrate"],
            &[("DATABASE_URL", pg.database_url.clone()), ("RUST_LOG", "warn".to_owned())],
        )
        .await?;
        Ok(pg)
    }

    fn pg_ctl_args(&self) -> Vec<String> {
        vec![
            "-u".into(),
            "postgres".into(),
            "--".into(),
            format!("{PG_BIN}/pg_ctl"),
            "-D".into(),
            self.data.to_string_lossy().into_owned(),
        ]
    }

    /// `pg_ctl start -w` on its port, listening on 127.0.0.1 only, its socket in its own directory.
    pub async fn start_server(&self, dir: &Path) -> anyhow::Result<()> {
        let mut args = self.pg_ctl_args();
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200 -c fsync=off",
            self.port,
            self.root.display()
        );
        let logfile = self.root.join("server.log").to_string_lossy().into_owned();
        args.extend(["-w".into(), "-t".into(), "60".into(), "-o".into(), opts, "-l".into(), logfile, "start".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_logged(dir, "postgres.log", "runuser", &args, &[]).await
    }

    /// `pg_ctl stop -m immediate`: the server dies as on a crash (recovery at the next start).
    pub async fn stop_immediate(&self, dir: &Path) -> anyhow::Result<()> {
        let mut args = self.pg_ctl_args();
        args.extend(["-m".into(), "immediate".into(), "stop".into()]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_logged(dir, "postgres.log", "runuser", &args, &[]).await
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        let mut args = self.pg_ctl_args();
        args.extend(["-m".into(), "immediate".into(), "stop".into()]);
        let _ = std::process::Command::new("runuser").args(&args).stdout(Stdio::null()).stderr(Stdio::null()).status();
        let _ = std::fs::remove_dir_all(&self.root);
        say(&format!("   (throwaway Postgres on port {} stopped and removed)", self.port));
    }
}

/// A second RabbitMQ node of its own (name, ports, data, logs and config in a temp directory owned by `rabbitmq`),
/// run as a child in the foreground; stopped with `rabbitmqctl shutdown` and removed when dropped.
pub struct ThrowawayRabbit {
    pub node: String,
    pub port: u16,
    dist_port: u16,
    root: PathBuf,
    child: Option<Child>,
}

impl ThrowawayRabbit {
    pub async fn start(dir: &Path) -> anyhow::Result<ThrowawayRabbit> {
        let port = free_port()?;
        let node = format!("seqrd-faults-{}@localhost", std::process::id());
        let root = std::env::temp_dir().join(format!("seqrd-faults-rabbit-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&root)?;
        std::fs::write(root.join("enabled_plugins"), "")?;
        // The machine's /etc/rabbitmq/rabbitmq.conf names the shared listener (5672): this node gets its own file.
        std::fs::write(root.join("rabbitmq.conf"), format!("listeners.tcp.local = 127.0.0.1:{port}\n"))?;
        run_logged(dir, "rabbitmq.log", "chown", &["-R", "rabbitmq:rabbitmq", &root.to_string_lossy()], &[]).await?;
        let mut r = ThrowawayRabbit { node, port, dist_port: free_port()?, root, child: None };
        r.start_server(dir).await?;
        Ok(r)
    }

    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn env(&self) -> Vec<(&'static str, String)> {
        let r = |p: &str| self.root.join(p).to_string_lossy().into_owned();
        vec![
            ("RABBITMQ_NODENAME", self.node.clone()),
            ("RABBITMQ_NODE_PORT", self.port.to_string()),
            ("RABBITMQ_DIST_PORT", self.dist_port.to_string()),
            ("RABBITMQ_MNESIA_BASE", r("mnesia")),
            ("RABBITMQ_LOG_BASE", r("log")),
            ("RABBITMQ_ENABLED_PLUGINS_FILE", r("enabled_plugins")),
            ("RABBITMQ_CONFIG_FILE", r("rabbitmq.conf")),
        ]
    }

    /// Starts the node (again, on the same data) and waits until it accepts AMQP connections.
    pub async fn start_server(&mut self, dir: &Path) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let child = Command::new("rabbitmq-server")
            .envs(self.env())
            .current_dir(&self.root)
            .stdin(Stdio::null())
            .stdout(log_file(dir, "rabbitmq.log")?)
            .stderr(log_file(dir, "rabbitmq.log")?)
            .spawn()
            .context("starting rabbitmq-server")?;
        self.child = Some(child);
        let port = self.port;
        wait_for(Duration::from_secs(90), &format!("RabbitMQ node {} on port {port}", self.node), || async move {
            port_open(port)
        })
        .await?;
        // The port opens a moment before the node has finished booting; await_startup fails at once until the
        // node registered, so it is retried.
        let (node, env) = (self.node.clone(), self.env());
        wait_for(Duration::from_secs(60), &format!("rabbitmqctl await_startup on {node}"), || {
            let (node, env) = (node.clone(), env.clone());
            async move {
                Command::new("rabbitmqctl")
                    .args(["-q", "-n", &node, "await_startup", "--timeout", "5"])
                    .envs(env)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .await
                    .is_ok_and(|s| s.success())
            }
        })
        .await?;
        Ok(started.elapsed())
    }

    /// `rabbitmqctl shutdown` (waits until the node's VM exited).
    pub async fn stop_server(&mut self, dir: &Path) -> anyhow::Result<()> {
        run_logged(dir, "rabbitmq.log", "rabbitmqctl", &["-q", "-n", &self.node, "shutdown"], &self.env()).await?;
        if let Some(mut child) = self.child.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
        }
        Ok(())
    }
}

impl Drop for ThrowawayRabbit {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = std::process::Command::new("rabbitmqctl")
                .args(["-q", "-n", &self.node, "shutdown"])
                .envs(self.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            if let Some(child) = self.child.as_mut() {
                let _ = child.start_kill();
            }
        }
        let _ = std::fs::remove_dir_all(&self.root);
        say(&format!("   (throwaway RabbitMQ node {} stopped and removed)", self.node));
    }
}
