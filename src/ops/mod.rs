//! Running as a service: daemonizing (fork, pidfile, log file, systemd
//! notification), the logger, the counters and the stats socket that serves them.

pub mod daemon;
pub mod logger;
pub mod process;
pub mod stats;
pub mod statsock;
