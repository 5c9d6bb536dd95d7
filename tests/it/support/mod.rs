//! Shared test support: real tools the tests drive.

pub mod helm;
