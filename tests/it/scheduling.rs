//! scheduling tests
