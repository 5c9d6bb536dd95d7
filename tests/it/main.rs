//! chartpin integration tests: one binary, real registry and real helm.

mod manifest;
mod pin;
mod support;
mod verify;
