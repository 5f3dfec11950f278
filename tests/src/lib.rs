//! Helpers for end-to-end tests with real full nodes (those tests arrive with the mining issue).
