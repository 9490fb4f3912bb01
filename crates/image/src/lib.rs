//! Images: references, manifests, content store, layers, snapshots.
