//! `modgate serve`.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::Args;

use super::{CliError, Outcome};
use crate::config::{Config, Overrides};
use crate::server;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML configuration file (see README, "Configuration"). Without one: a single site
    /// named "default" on 127.0.0.1:50051, no API keys, state in ./modgate-data.
    #[arg(long, env = "MODGATE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// gRPC address, e.g. 127.0.0.1:50051 (port 0 picks a free port).
    #[arg(long, env = "MODGATE_LISTEN", value_name = "ADDR")]
    pub listen: Option<String>,
    /// Prometheus metrics address (HTTP GET /metrics); off unless set here or in the file.
    #[arg(long, env = "MODGATE_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Directory for the embedded state (decisions, held comments, install secret).
    #[arg(long, env = "MODGATE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Redis for shared state (redis://[user:password@]host:port[/db], rediss:// for TLS,
    /// redis+unix:///path, or a comma-separated list of Redis Cluster nodes); all state
    /// then lives there. Unset: embedded state in DIR.
    #[arg(long, env = "MODGATE_REDIS_URL", value_name = "URL", hide_env_values = true)]
    pub redis_url: Option<String>,
}

fn init_logging(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour only for a person at a terminal: log files and collectors get plain text.
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub fn serve(args: ServeArgs) -> Result<Outcome, CliError> {
    let overrides = Overrides {
        listen: args.listen,
        metrics_listen: args.metrics_listen,
        data_dir: args.data_dir,
        redis_url: args.redis_url,
    };
    // Everything is validated and loaded before a port is bound.
    let config =
        Config::load(args.config.as_deref(), &overrides).map_err(|e| CliError::new(format!("configuration: {e}")))?;
    init_logging(config.json_logs);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("starting the runtime: {e}")))?;
    runtime.block_on(async move {
        let listen = config.listen;
        let metrics_addr = config.metrics_listen;
        let prepared = server::prepare(config).await.map_err(CliError::new)?;
        let metrics_listener = match metrics_addr {
            Some(addr) => Some(
                crate::api::metrics::bind(addr)
                    .await
                    .map_err(|e| CliError::new(format!("cannot listen for metrics on {addr}: {e}")))?,
            ),
            None => None,
        };
        let grpc = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| CliError::new(format!("cannot listen on {listen}: {e}")))?;
        let bound = grpc.local_addr().map_err(|e| CliError::new(e.to_string()))?;
        let metrics_bound = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());
        let sites: Vec<String> = prepared
            .config
            .sites
            .values()
            .map(|s| {
                format!(
                    "{} ({})",
                    s.id,
                    if s.api_keys.is_empty() {
                        "no API key".to_string()
                    } else {
                        format!("{} API keys", s.api_keys.len())
                    }
                )
            })
            .collect();
        tracing::info!(
            grpc = %bound,
            metrics = ?metrics_bound,
            state = %match &prepared.config.redis {
                Some(redis) => format!("redis at {}", redis.redacted_url()),
                None => format!("embedded in {}", prepared.config.data_dir.display()),
            },
            model = %prepared.pipeline.model_version(),
            sites = %sites.join(", "),
            "modgate serving"
        );
        // A stable line on standard output that scripts and tests wait for.
        println!("modgate: serving gRPC on {bound}");
        if let Some(addr) = metrics_bound {
            println!("modgate: serving metrics on http://{addr}/metrics");
        }
        server::run(prepared, grpc, metrics_listener, server::termination_signal())
            .await
            .map_err(CliError::new)?;
        tracing::info!("stopped");
        Ok(Outcome::Ok)
    })
}
