pub mod expand;
