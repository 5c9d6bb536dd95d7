//! TODO: registry
