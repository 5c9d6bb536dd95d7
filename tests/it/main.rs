mod manifest;
mod support;
mod verify;

fn main() {}
