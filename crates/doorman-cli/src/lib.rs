//! The doorman binary's pieces, as a library so the integration tests boot
//! exactly what `doorman serve` boots.

pub mod app;
pub mod apply;
pub mod audit_cmd;
pub mod bench;
pub mod bench_audit;
pub mod bench_table;
pub mod config;
pub mod demo;
pub mod lock_cmd;
pub mod lock_health;
pub mod mail_cmd;
pub mod manage;
pub mod simulate;
pub mod token_cmd;
pub mod webhook_cmd;
pub mod witness_cmd;

use doorman_domain::{Clock, UnixSeconds};

/// The one place that reads the wall clock; everything else gets a `Clock`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)]
    fn now(&self) -> UnixSeconds {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}
