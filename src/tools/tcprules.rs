//! stub
use std::ffi::OsString;
use crate::fail::Failure;
pub fn main(_args: Vec<OsString>) -> Result<i32, Failure> { Ok(100) }
