//! berth-shim's library side: the protocol berthd speaks to it.
pub mod protocol;
