//! `modgate health`: asks a running server whether it serves (grpc.health.v1), for
//! container health checks where no other gRPC client is installed.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use super::{CliError, Outcome, print};

/// The service a health check asks about by default: the one CMS backends call. Unlike
/// the whole-server status, it turns NOT_SERVING as soon as a shutdown starts draining.
pub const DEFAULT_SERVICE: &str = "modgate.v1.Moderation";

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server's gRPC address. Unset: MODGATE_SERVER, else the address `serve` would
    /// listen on (MODGATE_LISTEN, with 0.0.0.0 or [::] read as loopback), else
    /// 127.0.0.1:50051.
    #[arg(long, value_name = "ADDR")]
    pub server: Option<String>,
    /// The gRPC service to ask about; "" asks about the server as a whole.
    #[arg(long, default_value = DEFAULT_SERVICE, value_name = "NAME")]
    pub service: String,
    /// Give up after this many seconds (connecting included).
    #[arg(long, default_value_t = 3.0, value_name = "SECONDS")]
    pub timeout: f64,
}

/// Where to look for the server when `--server` is not given: an explicit MODGATE_SERVER,
/// else the listen address of a `serve` configured by the same environment (a container
/// sets MODGATE_LISTEN once for both), else the default listen address.
pub fn server_address(server: Option<&str>, env_server: Option<&str>, env_listen: Option<&str>) -> String {
    if let Some(server) = server.or(env_server).filter(|s| !s.trim().is_empty()) {
        return server.trim().to_string();
    }
    match env_listen.map(str::trim).filter(|s| !s.is_empty()) {
        Some(listen) => match listen.parse::<SocketAddr>() {
            Ok(addr) if addr.ip().is_unspecified() => {
                let loopback: std::net::IpAddr = if addr.is_ipv4() {
                    std::net::Ipv4Addr::LOCALHOST.into()
                } else {
                    std::net::Ipv6Addr::LOCALHOST.into()
                };
                SocketAddr::new(loopback, addr.port()).to_string()
            }
            _ => listen.to_string(),
        },
        None => "127.0.0.1:50051".to_string(),
    }
}

pub fn health(args: HealthArgs) -> Result<Outcome, CliError> {
    if !(args.timeout.is_finite() && args.timeout > 0.0) {
        return Err(CliError::new("--timeout: must be a positive number of seconds"));
    }
    let timeout = Duration::from_secs_f64(args.timeout);
    let server = server_address(
        args.server.as_deref(),
        std::env::var("MODGATE_SERVER").ok().as_deref(),
        std::env::var("MODGATE_LISTEN").ok().as_deref(),
    );
    let uri = if server.contains("://") {
        server.clone()
    } else {
        format!("http://{server}")
    };
    let service = args.service;
    super::queue::runtime()?.block_on(async move {
        let ask = async {
            let channel = Channel::from_shared(uri)
                .map_err(|e| CliError::new(format!("--server {server:?}: {e}")))?
                .connect()
                .await
                .map_err(|e| CliError::new(format!("cannot reach modgate at {server}: {e}")))?;
            HealthClient::new(channel)
                .check(HealthCheckRequest {
                    service: service.clone(),
                })
                .await
                .map(|response| response.into_inner().status())
                .or_else(|status| match status.code() {
                    // The health service's answer for a name it does not know.
                    tonic::Code::NotFound => Ok(ServingStatus::ServiceUnknown),
                    _ => Err(CliError::new(format!(
                        "modgate at {server}: {:?}: {}",
                        status.code(),
                        status.message()
                    ))),
                })
        };
        let status = tokio::time::timeout(timeout, ask)
            .await
            .map_err(|_| CliError::new(format!("modgate at {server}: no answer within {}s", args.timeout)))??;
        print(&format!("{}\n", status.as_str_name()))?;
        Ok(if status == ServingStatus::Serving {
            Outcome::Ok
        } else {
            Outcome::CheckFailed
        })
    })
}

#[cfg(test)]
mod tests {
    use super::server_address;

    #[test]
    fn the_address_comes_from_the_flag_then_the_environment_then_the_listen_address() {
        assert_eq!(
            server_address(Some("10.0.0.5:1"), Some("a:2"), Some("0.0.0.0:3")),
            "10.0.0.5:1"
        );
        assert_eq!(server_address(None, Some("a:2"), Some("0.0.0.0:3")), "a:2");
        assert_eq!(server_address(None, None, Some("0.0.0.0:3")), "127.0.0.1:3");
        assert_eq!(server_address(None, Some(" "), Some("[::]:4")), "[::1]:4");
        assert_eq!(server_address(None, None, Some("192.0.2.1:5")), "192.0.2.1:5");
        assert_eq!(server_address(None, None, None), "127.0.0.1:50051");
    }
}
