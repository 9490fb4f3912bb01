//! The runtime ↔ container-init conversation during `create`: small JSON messages over
//! a SOCK_SEQPACKET socketpair (one message per packet, so no framing is needed).

use std::os::fd::{AsRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sys;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Msg {
    /// init → runtime: my user namespace exists, write my id maps.
    UsernsCreated,
    /// runtime → init: maps written / cgroup joined; carry on.
    Continue,
    /// init → runtime: namespaces are ready, run prestart/createRuntime hooks now.
    RunCreateRuntimeHooks,
    /// init → runtime: set up and waiting for `start`.
    Ready,
    /// runtime → init (for `run`): start the process now.
    Start,
    /// init → runtime: something failed; the message is for the user.
    Error(String),
}

pub struct Channel(pub OwnedFd);

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = sys::socketpair().map_err(|e| Error::io("socketpair", e))?;
        Ok((Channel(a), Channel(b)))
    }

    pub fn send(&self, m: &Msg) -> Result<()> {
        let buf = serde_json::to_vec(m).map_err(|e| Error::other(e.to_string()))?;
        sys::write_all(self.0.as_raw_fd(), &buf).map_err(|e| Error::io("sending to container init", e))
    }

    /// Next message; a closed channel means the other side died.
    pub fn recv(&self) -> Result<Msg> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut read = || sys::read(self.0.as_raw_fd(), &mut buf);
        // When the init closes its end with a message of ours unread (a Continue sent
        // while it was failing), the kernel reports ECONNRESET once, ahead of what the
        // init sent before closing: its error is still queued, so read again.
        let n = match read() {
            Err(e) if e.raw_os_error() == Some(libc::ECONNRESET) => read(),
            r => r,
        }
        .map_err(|e| Error::io("reading from container init", e))?;
        if n == 0 {
            return Err(Error::other("container init exited before it was set up"));
        }
        serde_json::from_slice(&buf[..n]).map_err(|e| Error::other(format!("bad message from container init: {e}")))
    }

    /// Waits for `want`, turning an Error message into an error.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            m if m == want => Ok(()),
            Msg::Error(e) => Err(Error::other(e)),
            m => Err(Error::other(format!("unexpected message from container init: {m:?} (wanted {want:?})"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_sent_before_a_reset_is_still_read() {
        let (runtime, init) = Channel::pair().unwrap();
        init.send(&Msg::Error("not the null device".into())).unwrap();
        runtime.send(&Msg::Continue).unwrap();
        drop(init);
        assert_eq!(runtime.recv().unwrap(), Msg::Error("not the null device".into()));
        assert!(runtime.recv().is_err(), "a closed channel reads as an error");
    }
}
