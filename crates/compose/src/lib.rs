//! The compose-spec model, interpolation and project engine.
