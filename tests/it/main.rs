mod manifest;
mod pin;

fn main() {}
