mod lint;
mod manifest;
mod report;
mod support;

fn main() {}
