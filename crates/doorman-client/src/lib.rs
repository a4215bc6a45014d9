//! Typed HTTP client used by the CLI, the demo and the integration tests
