//! Prometheus metrics (text exposition format) on their own HTTP port.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    site: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    site: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WebhookLabels {
    site: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReloadLabels {
    outcome: String,
}

pub struct Metrics {
    registry: Registry,
    decisions: Family<DecisionLabels, Counter>,
    reasons: Family<ReasonLabels, Counter>,
    stage_seconds: Family<StageLabels, Histogram>,
    rpcs: Family<RpcLabels, Counter>,
    model: Family<ModelLabels, Gauge>,
    model_reloads: Family<ReloadLabels, Counter>,
    webhooks: Family<WebhookLabels, Counter>,
    spooled: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("modgate");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Moderation decisions by site and action",
            decisions.clone(),
        );
        let reasons = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "decision_reasons",
            "Reasons given with decisions, by site and reason code",
            reasons.clone(),
        );
        // 5 µs to ~80 ms: the classifier takes microseconds, a store write can take more.
        let stage_seconds = Family::<StageLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                5e-6, 2.0, 15,
            ))
        });
        registry.register(
            "stage_seconds",
            "Time spent in each pipeline stage",
            stage_seconds.clone(),
        );
        let rpcs = Family::<RpcLabels, Counter>::default();
        registry.register("rpcs", "Finished RPCs by method and status code", rpcs.clone());
        let model = Family::<ModelLabels, Gauge>::default();
        registry.register("model_info", "The loaded classifier model (value 1)", model.clone());
        let model_reloads = Family::<ReloadLabels, Counter>::default();
        registry.register(
            "model_reloads",
            "Model reloads asked for with SIGHUP, by outcome (loaded, failed)",
            model_reloads.clone(),
        );
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhook_attempts",
            "Webhook POSTs by site and outcome (delivered, failed), and events given up on (dead_lettered)",
            webhooks.clone(),
        );
        let spooled = Gauge::default();
        registry.register(
            "spooled_decisions",
            "Decisions answered while Redis was unavailable, waiting on local disk to be stored",
            spooled.clone(),
        );
        Self {
            registry,
            decisions,
            reasons,
            stage_seconds,
            rpcs,
            model,
            model_reloads,
            webhooks,
            spooled,
        }
    }

    /// One webhook outcome: "delivered", "failed" (an attempt) or "dead_lettered".
    pub fn webhook(&self, site: &str, outcome: &'static str) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                site: site.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn spooled(&self, waiting: usize) {
        self.spooled.set(waiting as i64);
    }

    pub fn decision(&self, site: &str, action: &str, reasons: impl IntoIterator<Item = &'static str>) {
        self.decisions
            .get_or_create(&DecisionLabels {
                site: site.into(),
                action: action.into(),
            })
            .inc();
        for reason in reasons {
            self.reasons
                .get_or_create(&ReasonLabels {
                    site: site.into(),
                    reason: reason.into(),
                })
                .inc();
        }
    }

    pub fn stage(&self, stage: &str, elapsed: Duration) {
        self.stage_seconds
            .get_or_create(&StageLabels { stage: stage.into() })
            .observe(elapsed.as_secs_f64());
    }

    pub fn rpc(&self, method: &str, code: tonic::Code) {
        self.rpcs
            .get_or_create(&RpcLabels {
                method: method.into(),
                code: format!("{code:?}"),
            })
            .inc();
    }

    pub fn model_loaded(&self, version: &str) {
        self.model.clear();
        self.model
            .get_or_create(&ModelLabels {
                version: version.into(),
            })
            .set(1);
    }

    /// One reload attempt: "loaded" or "failed" (the model in use stayed).
    pub fn model_reload(&self, outcome: &'static str) {
        self.model_reloads
            .get_or_create(&ReloadLabels {
                outcome: outcome.into(),
            })
            .inc();
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).expect("writing to a String");
        out
    }
}

/// Serves `GET /metrics` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    metrics: Arc<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    metrics.render(),
                )
            }
        }),
    );
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Binds the metrics port (done before the gRPC port, so a bad address fails early).
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_decisions_stages_and_model() {
        let m = Metrics::new();
        m.decision("news", "hold", ["SPAM"]);
        m.stage("classifier", Duration::from_micros(20));
        m.model_loaded("v1");
        m.rpc("Moderate", tonic::Code::Ok);
        m.webhook("news", "failed");
        m.webhook("news", "delivered");
        m.spooled(3);
        m.model_loaded("v2");
        m.model_reload("loaded");
        let text = m.render();
        assert!(
            text.contains("modgate_webhook_attempts_total{site=\"news\",outcome=\"failed\"} 1"),
            "{text}"
        );
        assert!(text.contains("modgate_spooled_decisions 3"), "{text}");
        assert!(
            text.contains("modgate_decisions_total{site=\"news\",action=\"hold\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("modgate_decision_reasons_total{site=\"news\",reason=\"SPAM\"} 1"),
            "{text}"
        );
        assert!(text.contains("modgate_stage_seconds_bucket{le="), "{text}");
        // A reload replaces the version label: one model is in use at a time.
        assert!(text.contains("modgate_model_info{version=\"v2\"} 1"), "{text}");
        assert!(!text.contains("version=\"v1\""), "{text}");
        assert!(
            text.contains("modgate_model_reloads_total{outcome=\"loaded\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("modgate_rpcs_total{method=\"Moderate\",code=\"Ok\"} 1"),
            "{text}"
        );
    }
}
