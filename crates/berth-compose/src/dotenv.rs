//! dotenv (being written).
