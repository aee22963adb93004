//! Third-party captcha verifiers: Cloudflare Turnstile, hCaptcha and Google reCAPTCHA (v2
//! and v3). All three answer the same kind of `siteverify` request (a form with the
//! site's secret, the token and optionally the reader's IP) with the same kind of JSON
//! (`success`, `hostname`, `error-codes`, and for reCAPTCHA v3 and Turnstile `action`,
//! for v3 `score`), so one client serves them; what differs is the address, the error
//! codes that mean "already used", and which checks a site asks for.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

/// A provider modgate knows how to ask.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    Turnstile,
    HCaptcha,
    Recaptcha,
}

impl Provider {
    /// The name a CMS sends as `captcha.provider` and a site configures.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Turnstile => "turnstile",
            Provider::HCaptcha => "hcaptcha",
            Provider::Recaptcha => "recaptcha",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "turnstile" => Some(Provider::Turnstile),
            "hcaptcha" => Some(Provider::HCaptcha),
            "recaptcha" => Some(Provider::Recaptcha),
            _ => None,
        }
    }

    /// The documented verification endpoint.
    pub fn default_url(self) -> &'static str {
        match self {
            Provider::Turnstile => "https://challenges.cloudflare.com/turnstile/v0/siteverify",
            Provider::HCaptcha => "https://api.hcaptcha.com/siteverify",
            Provider::Recaptcha => "https://www.google.com/recaptcha/api/siteverify",
        }
    }

    /// Error codes that mean the token was valid once and has been used (or timed out,
    /// which the providers do not tell apart).
    fn means_replayed(self, code: &str) -> bool {
        match self {
            Provider::Turnstile | Provider::Recaptcha => code == "timeout-or-duplicate",
            Provider::HCaptcha => code == "already-seen-response" || code == "invalid-or-already-seen-response",
        }
    }

    /// Error codes that mean our own request was wrong (the site's secret), which is
    /// not the reader's fault and is treated like an unreachable provider.
    fn means_misconfigured(code: &str) -> bool {
        matches!(
            code,
            "missing-input-secret"
                | "invalid-input-secret"
                | "sitekey-secret-mismatch"
                | "bad-request"
                | "invalid-remoteip"
        )
    }
}

/// One site's settings for one provider.
#[derive(Clone, PartialEq)]
pub struct VerifierSettings {
    pub provider: Provider,
    pub secret: String,
    /// The verification endpoint (tests point it at a local server).
    pub url: String,
    /// The hostname the token must have been solved on.
    pub hostname: Option<String>,
    /// The action the widget must have been rendered with (Turnstile, reCAPTCHA v3).
    pub action: Option<String>,
    /// reCAPTCHA v3: the lowest score accepted.
    pub min_score: Option<f32>,
}

impl std::fmt::Debug for VerifierSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifierSettings")
            .field("provider", &self.provider)
            .field("secret", &"***")
            .field("url", &self.url)
            .field("hostname", &self.hostname)
            .field("action", &self.action)
            .field("min_score", &self.min_score)
            .finish()
    }
}

/// What a provider said about a token.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    Valid,
    /// Not a valid token for this site (wrong, expired, for another hostname or action).
    Invalid(String),
    /// Valid once, already used.
    Replayed(String),
    /// reCAPTCHA v3 judged the reader likely automated.
    LowScore(String),
    /// No answer we can use: the provider failed, timed out, or our secret is wrong.
    Unavailable(String),
}

#[derive(Deserialize)]
struct SiteverifyAnswer {
    success: bool,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    score: Option<f32>,
    #[serde(default, rename = "error-codes")]
    error_codes: Vec<String>,
}

/// The HTTP client every verification shares (connections are reused).
#[derive(Clone, Default)]
pub struct Verifier {
    http: reqwest::Client,
}

impl Verifier {
    /// Asks the provider about `token`, for at most `timeout` in all.
    pub async fn verify(
        &self,
        settings: &VerifierSettings,
        token: &str,
        reader_ip: Option<IpAddr>,
        timeout: Duration,
    ) -> Verdict {
        let name = settings.provider.name();
        let late = || Verdict::Unavailable(format!("{name}: no answer within {} ms", timeout.as_millis()));
        let started = tokio::time::Instant::now();
        let mut form = vec![("secret", settings.secret.clone()), ("response", token.to_string())];
        if let Some(ip) = reader_ip {
            form.push(("remoteip", ip.to_string()));
        }
        let request = self.http.post(&settings.url).form(&form).send();
        let response = match tokio::time::timeout(timeout, request).await {
            Err(_) => return late(),
            Ok(Err(e)) => return Verdict::Unavailable(format!("{name}: {}", e.without_url())),
            Ok(Ok(response)) => response,
        };
        if !response.status().is_success() {
            return Verdict::Unavailable(format!("{name}: answered HTTP {}", response.status().as_u16()));
        }
        let left = timeout.saturating_sub(started.elapsed());
        let answer = match tokio::time::timeout(left, response.json::<SiteverifyAnswer>()).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Verdict::Unavailable(format!("{name}: an answer that is not siteverify JSON")),
            Err(_) => return late(),
        };
        judge(settings, answer)
    }
}

fn judge(settings: &VerifierSettings, answer: SiteverifyAnswer) -> Verdict {
    let name = settings.provider.name();
    if !answer.success {
        let codes = answer.error_codes.join(", ");
        if answer.error_codes.iter().any(|c| settings.provider.means_replayed(c)) {
            return Verdict::Replayed(format!("{name}: {codes}"));
        }
        if answer.error_codes.iter().any(|c| Provider::means_misconfigured(c)) {
            return Verdict::Unavailable(format!("{name} refused our request ({codes}): check the site's secret"));
        }
        return Verdict::Invalid(format!(
            "{name}: {}",
            if codes.is_empty() { "not valid" } else { &codes }
        ));
    }
    if let Some(expected) = &settings.hostname
        && answer.hostname.as_deref() != Some(expected.as_str())
    {
        return Verdict::Invalid(format!(
            "{name}: solved on {:?}, not {expected:?}",
            answer.hostname.unwrap_or_default()
        ));
    }
    if let Some(expected) = &settings.action
        && answer.action.as_deref() != Some(expected.as_str())
    {
        return Verdict::Invalid(format!(
            "{name}: action {:?}, not {expected:?}",
            answer.action.unwrap_or_default()
        ));
    }
    if let Some(min) = settings.min_score {
        match answer.score {
            Some(score) if score >= min => {}
            Some(score) => return Verdict::LowScore(format!("{name}: score {score:.2} below the site's {min:.2}")),
            None => {
                return Verdict::Invalid(format!(
                    "{name}: no score in the answer (a v2 token where v3 is expected?)"
                ));
            }
        }
    }
    Verdict::Valid
}
