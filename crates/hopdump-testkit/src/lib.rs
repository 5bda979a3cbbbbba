//! Dev-only test kit: builds real network namespaces, veth pairs and bridges for lab tests,
//! and tears them down in `Drop` even when a test fails.
//!
//! Every namespace and interface name carries a per-process unique prefix so parallel tests
//! and leftover state from killed runs never collide. Nothing here touches the root
//! namespace's addresses, routes or firewall: root-side veth ends are moved away at once.

pub mod blast;
pub mod lab;
// `gen` is a reserved word in edition 2024, hence the raw identifier.
pub mod r#gen;
pub mod netns;

pub use netns::{Lab, is_root};
