//! merge (being written).
