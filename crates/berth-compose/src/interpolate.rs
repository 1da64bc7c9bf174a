//! interpolate (being written).
