//! The connect errors every runtime reports, worded as libpq words them, so a failed connect
//! reads the same on every transport.

use std::fmt::Display;
use std::io;
use std::path::Path;

/// A Unix-domain socket that could not be connected.
pub fn unix(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("connect to {}: {e}", path.display()))
}

/// A host name that could not be resolved.
pub fn resolve(host: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("could not translate host name \"{host}\": {e}"))
}

/// A host name that resolved to nothing.
pub fn no_address(host: &str) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, format!("no address for \"{host}\""))
}

/// A TCP address that refused or failed the connect.
pub fn tcp(addr: impl Display, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("connection to server at {addr} failed: {e}"))
}
