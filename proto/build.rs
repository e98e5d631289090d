//! Compiles `gatehouse/**/*.proto` with protox (pure Rust, so no system `protoc`
//! is needed) and writes the descriptor set that tonic-reflection serves.
use std::{env, path::PathBuf};

const FILES: &[&str] = &[
    "gatehouse/common/v1/common.proto",
    "gatehouse/registry/v1/registry.proto",
    "gatehouse/authorization/v1/authorization.proto",
    "gatehouse/token/v1/token.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let proto_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let mut compiler = protox::Compiler::new([&proto_dir])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(FILES)?;
    // `compile_fds` ignores `file_descriptor_set_path`, so write it ourselves.
    std::fs::write(out_dir.join("gatehouse_descriptor.bin"), compiler.encode_file_descriptor_set())?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(compiler.file_descriptor_set())?;
    println!("cargo:rerun-if-changed=gatehouse");
    Ok(())
}
