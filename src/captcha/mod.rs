//! Captcha verification. The built-in proof-of-work ([`altcha`]) needs no third party;
//! [`provider`] asks Turnstile, hCaptcha or reCAPTCHA about their tokens.

pub mod altcha;
pub mod provider;
