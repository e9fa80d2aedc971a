//! shutdown tests
