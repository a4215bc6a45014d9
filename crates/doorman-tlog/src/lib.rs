//! Transparency log core.
