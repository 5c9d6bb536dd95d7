//! chartpin integration tests: one binary, real registry and real helm.

mod action;
mod demo;
mod dist;
mod dist_action;
mod dist_install;
mod dist_messages;
mod dist_plugin;
mod docker_manifests;
mod help;
mod hostile_chart;
mod hostile_registry;
mod hostile_yaml;
mod lint;
mod location;
mod manifest;
mod pin;
mod plugin;
mod qa;
mod release;
mod render_truth;
mod renderlint;
mod report;
mod support;
mod usecases;
mod verify;
