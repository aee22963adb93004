//! The deployment files in deploy/ agree with the code: the variables they set are ones
//! modgate reads, the ports line up, and the configurations they ship load (or, for the
//! Kubernetes placeholder, are refused until a real key is set). Building and running
//! the image itself is deploy/smoke-test, which needs a container engine.

use std::path::{Path, PathBuf};
use std::process::Command;

use modgate::config::{Config, Overrides};

fn deploy(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The block scalar that follows `key: |` in a YAML file, dedented.
fn yaml_block(yaml: &str, key: &str) -> String {
    let mut lines = yaml.lines();
    let header = lines
        .by_ref()
        .find(|line| line.trim_start() == format!("{key}: |"))
        .unwrap_or_else(|| panic!("no `{key}: |` block"));
    let header_indent = header.len() - header.trim_start().len();
    let body: Vec<&str> = lines
        .take_while(|line| line.trim().is_empty() || line.len() - line.trim_start().len() > header_indent)
        .collect();
    let indent = body
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .min()
        .expect("an empty block");
    body.iter()
        .map(|line| line.get(indent..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The value after `key:` on the first line that has it.
fn yaml_value(yaml: &str, key: &str) -> String {
    yaml.lines()
        .find_map(|line| line.trim_start().strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no `{key}:`"))
        .trim()
        .to_string()
}

fn dockerfile_env(name: &str) -> String {
    let dockerfile = deploy("Dockerfile");
    dockerfile
        .split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("the Dockerfile sets no {name}"))
        .to_string()
}

fn load(toml: &str, overrides: &Overrides) -> Result<Config, String> {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().join("modgate.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(Some(&path), overrides).map_err(|e| e.to_string())
}

/// What the image sets, as `serve` would see it in a container.
fn container_overrides(redis_url: Option<String>) -> Overrides {
    Overrides {
        listen: Some(dockerfile_env("MODGATE_LISTEN")),
        metrics_listen: Some(dockerfile_env("MODGATE_METRICS_LISTEN")),
        data_dir: Some(dockerfile_env("MODGATE_DATA_DIR").into()),
        redis_url,
    }
}

#[test]
fn ports_agree_between_the_image_compose_and_kubernetes() {
    let grpc_port = dockerfile_env("MODGATE_LISTEN").rsplit(':').next().unwrap().to_string();
    let metrics_port = dockerfile_env("MODGATE_METRICS_LISTEN")
        .rsplit(':')
        .next()
        .unwrap()
        .to_string();
    assert_eq!((grpc_port.as_str(), metrics_port.as_str()), ("50051", "9090"));

    let dockerfile = deploy("Dockerfile");
    let expose = dockerfile.lines().find(|l| l.starts_with("EXPOSE ")).expect("EXPOSE");
    assert_eq!(expose, format!("EXPOSE {grpc_port} {metrics_port}"));

    let compose = deploy("compose.yaml");
    for port in [&grpc_port, &metrics_port] {
        assert!(
            compose.contains(&format!(":{port}:{port}\"")),
            "compose publishes {port}"
        );
    }

    let deployment = deploy("kubernetes/deployment.yaml");
    for port in [&grpc_port, &metrics_port] {
        assert!(
            deployment.contains(&format!("containerPort: {port}")),
            "the Deployment declares {port}"
        );
    }
    assert_eq!(
        deployment.matches(&format!("port: {grpc_port}")).count(),
        2,
        "both gRPC probes ask the gRPC port"
    );
    assert!(deployment.contains("service: modgate.v1.Moderation"));
    assert!(deployment.contains(&format!("prometheus.io/port: \"{metrics_port}\"")));
    // The image's unprivileged user is the one the pod insists on.
    assert!(dockerfile.contains("USER 65532:65532"));
    assert!(deployment.contains("runAsUser: 65532"));
}

#[test]
fn every_modgate_variable_the_deploy_files_set_is_one_modgate_reads() {
    let mut help = String::new();
    for command in ["serve", "health"] {
        let output = Command::new(env!("CARGO_BIN_EXE_modgate"))
            .args([command, "--help"])
            .output()
            .unwrap();
        assert!(output.status.success());
        help.push_str(&String::from_utf8_lossy(&output.stdout));
    }
    let files = [
        "Dockerfile",
        "compose.yaml",
        "kubernetes/deployment.yaml",
        "kubernetes/secret.yaml",
    ];
    let mut seen = Vec::new();
    for file in files {
        // Comments explain what the user sets in their own shell; only settings count.
        let text: String = deploy(file)
            .lines()
            .filter(|line| !line.trim_start().starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        let mut rest = text.as_str();
        while let Some(at) = rest.find("MODGATE_") {
            let name: String = rest[at..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            // `${MODGATE_API_KEY...}` is compose's own interpolation, filled in before
            // modgate starts; every other name must be one modgate reads.
            if rest[..at].ends_with("${") {
                // Skip the whole `${...}`: its message may name the variable again.
                let close = rest[at..].find('}').expect("`${` is closed");
                rest = &rest[at + close..];
                continue;
            }
            assert!(help.contains(&name), "{file} sets {name}, which modgate does not read");
            seen.push(name.clone());
            rest = &rest[at + name.len()..];
        }
    }
    for expected in [
        "MODGATE_LISTEN",
        "MODGATE_CONFIG",
        "MODGATE_REDIS_URL",
        "MODGATE_DATA_DIR",
    ] {
        assert!(seen.iter().any(|n| n == expected), "{expected} is set somewhere");
    }
}

#[test]
fn the_compose_configuration_loads_once_its_key_is_filled_in() {
    let compose = deploy("compose.yaml");
    let template = yaml_block(&compose, "content");
    let start = template
        .find("${MODGATE_API_KEY")
        .expect("the key comes from the environment");
    let end = start + template[start..].find('}').unwrap() + 1;
    let toml = format!("{}{}{}", &template[..start], "0123456789abcdef0123", &template[end..]);
    let redis = yaml_value(&compose, "MODGATE_REDIS_URL");
    let config = load(&toml, &container_overrides(Some(redis))).expect("compose's configuration loads");
    assert!(config.redis.is_some());
    assert_eq!(config.sites["default"].api_keys, ["0123456789abcdef0123"]);
}

#[test]
fn the_kubernetes_placeholder_key_is_refused_until_replaced() {
    let secret = deploy("kubernetes/secret.yaml");
    let toml = yaml_block(&secret, "modgate.toml");
    let redis = yaml_value(&secret, "redis-url");
    let refused = load(&toml, &container_overrides(Some(redis.clone()))).unwrap_err();
    assert!(
        refused.contains("sites.default.api_keys") && refused.contains("at least 16"),
        "{refused}"
    );
    let key_only = toml.replacen("\"CHANGE ME\"", "\"0123456789abcdef0123\"", 1);
    let refused = load(&key_only, &container_overrides(Some(redis.clone()))).unwrap_err();
    assert!(
        refused.contains("moderators") && refused.contains("at least 16"),
        "{refused}"
    );
    let replaced =
        key_only
            .replacen("\"CHANGE ME\"", "\"lan\"", 1)
            .replacen("\"CHANGE ME\"", "\"moderator-token-456789\"", 1);
    assert!(!replaced.contains("CHANGE ME"));
    let config = load(&replaced, &container_overrides(Some(redis))).expect("loads with a real key");
    assert!(config.json_logs, "pods log JSON");
}

#[test]
fn the_image_without_a_configuration_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut overrides = container_overrides(None);
    overrides.data_dir = Some(dir.path().to_path_buf());
    let refused = Config::load(None, &overrides).unwrap_err().to_string();
    assert!(
        refused.contains("api_keys") && refused.contains("not a loopback address"),
        "{refused}"
    );
}
