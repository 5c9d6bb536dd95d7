//! TODO: pin
