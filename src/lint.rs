//! TODO: lint
