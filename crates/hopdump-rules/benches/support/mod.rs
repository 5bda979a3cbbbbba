//! Data generators shared by the benches and examples.
pub mod kube_dump;
