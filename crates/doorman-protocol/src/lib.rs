//! The doorman protocol: what the service, a driver's handheld and a lock exchange.
#![no_std]
