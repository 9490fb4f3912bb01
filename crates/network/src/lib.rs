//! Networks for berth containers (issue 5).
