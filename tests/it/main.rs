//! chartpin integration tests: one binary, real registry and real helm.

mod action;
mod demo;
mod docker_manifests;
mod help;
mod hostile_registry;
mod lint;
mod manifest;
mod pin;
mod plugin;
mod qa;
mod release;
mod report;
mod support;
mod verify;
