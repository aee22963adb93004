//! Captcha verification. The built-in proof-of-work ([`altcha`]) needs no third party;
//! the token of any other provider is refused until its verifier is configured.

pub mod altcha;
