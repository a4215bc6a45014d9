//! The doorman binary
