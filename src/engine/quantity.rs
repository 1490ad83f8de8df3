//! Kubernetes resource quantities (`resource.Quantity`): parsing and exact comparison.
//! (Stub: filled in by the volumes/GPU work.)
