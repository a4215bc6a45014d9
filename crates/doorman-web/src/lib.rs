//! The HTTP API (axum) and its OpenAPI document; the only crate that knows HTTP
