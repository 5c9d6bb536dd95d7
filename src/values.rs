//! TODO: values
