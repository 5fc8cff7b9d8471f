//! Contract suite (placeholder).
