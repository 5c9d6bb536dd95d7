mod lint;
mod manifest;
mod pin;
mod report;
mod support;

fn main() {}
