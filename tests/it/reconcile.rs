//! reconcile tests
