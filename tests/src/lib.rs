//! integration tests live in it/
