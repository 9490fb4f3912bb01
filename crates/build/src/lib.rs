//! Dockerfile parsing and image building.
