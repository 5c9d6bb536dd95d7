//! TODO: manifest
