//! Volumes (issue 6).
