//! normalize (being written).
