//! The distribution-spec client (issue 8).
