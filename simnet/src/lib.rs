//! Deterministic network simulator for Otedama nodes (arrives in a later issue).
