pub mod hash;
pub mod modpath;
