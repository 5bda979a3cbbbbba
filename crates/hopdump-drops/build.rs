//! Compiles the BPF program (src/bpf/drops.bpf.c) with clang into an object that the crate
//! embeds with `include_bytes!` and loads with libbpf-rs at run time (CO-RE: no kernel headers
//! are needed at build time, the hand-written vmlinux.h is relocated against the running
//! kernel's BTF when loaded).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    let bpf_dir = manifest.join("src/bpf");
    for f in ["drops.bpf.c", "drops.h", "vmlinux.h"] {
        println!("cargo:rerun-if-changed={}", bpf_dir.join(f).display());
    }
    println!("cargo:rerun-if-env-changed=CLANG");
    // libbpf-sys (vendored) installs libbpf's BPF-side headers and exports their directory.
    let libbpf_include = std::env::var("DEP_BPF_INCLUDE").unwrap_or_default();
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    let arch = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("x86_64") => "x86",
        Ok("aarch64") => "arm64",
        Ok("riscv64") => "riscv",
        Ok("powerpc64") => "powerpc",
        Ok("s390x") => "s390",
        _ => "x86",
    };
    let obj = out.join("drops.bpf.o");
    let mut cmd = Command::new(&clang);
    cmd.args(["-O2", "-g", "-Wall", "-Werror", "-target", "bpf"])
        .arg(format!("-D__TARGET_ARCH_{arch}"))
        .arg("-I")
        .arg(&bpf_dir);
    if !libbpf_include.is_empty() {
        cmd.arg("-I").arg(&libbpf_include);
    }
    cmd.arg("-c")
        .arg(bpf_dir.join("drops.bpf.c"))
        .arg("-o")
        .arg(&obj);
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{clang} failed to compile the BPF program ({s})"),
        Err(e) => panic!(
            "cannot run {clang} to compile the BPF program: {e} (install clang: sudo scripts/setup)"
        ),
    }
}
