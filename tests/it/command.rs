//! command tests
