mod support;
mod verify;
