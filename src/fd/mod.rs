//! fds: the per-fd table and the one try → `EAGAIN` → park → retry loop.

pub mod io;
pub mod table;
