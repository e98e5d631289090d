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
    let fds = compiler.file_descriptor_set();
    // Messages that carry a secret get no derived `Debug` (which would print
    // it); `redacted_debug.rs` gives them one that names the type only.
    let secret_holders = secret_holders(&fds);
    let mut impls = String::new();
    for (_, rust_path, name) in &secret_holders {
        impls.push_str(&format!(
            "impl ::core::fmt::Debug for {rust_path} {{\n    fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {{\n        f.write_str(\"{name} {{ .. }} (holds a secret: redacted)\")\n    }}\n}}\n"
        ));
    }
    std::fs::write(out_dir.join("redacted_debug.rs"), impls)?;
    let names: Vec<String> = secret_holders.iter().map(|(name, rust, _)| format!("(\"{name}\", \"{rust}\")")).collect();
    std::fs::write(out_dir.join("secret_holders.rs"), format!("&[{}]", names.join(", ")))?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .skip_debug(secret_holders.iter().map(|(proto, _, _)| proto.clone()))
        .compile_fds(fds)?;
    println!("cargo:rerun-if-changed=gatehouse");
    Ok(())
}

/// Whether a field's name says it holds a secret: a password, a secret, a
/// token, a code, a verifier, an assertion, a credential, a proof (but not a
/// token's hash, type, hint or id, which are not).
fn is_secret_field(name: &str) -> bool {
    const SECRET: &[&str] =
        &["password", "secret", "token", "code", "codes", "verifier", "assertion", "credential", "proof", "otp"];
    const NOT: &[&str] = &[
        "hash", "type", "hint", "id", "ids", "prefix", "at", "format", "endpoint", "method", "alg", "count", "kind",
        "types", "name", "uri", "seconds", "in", "lifetime",
    ];
    let parts: Vec<&str> = name.split('_').collect();
    // A page token is a cursor, not a credential.
    let cursor = parts.contains(&"page");
    parts.iter().any(|p| SECRET.contains(p)) && !cursor && !parts.last().is_some_and(|last| NOT.contains(last))
}

fn snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// (protobuf path, Rust path, name) of every message with a secret field.
fn secret_holders(fds: &prost_types::FileDescriptorSet) -> Vec<(String, String, String)> {
    fn visit(
        message: &prost_types::DescriptorProto,
        proto_prefix: &str,
        rust_prefix: &str,
        out: &mut Vec<(String, String, String)>,
    ) {
        let name = message.name();
        let (proto, rust) = (format!("{proto_prefix}.{name}"), format!("{rust_prefix}::{name}"));
        if message.field.iter().any(|field| is_secret_field(field.name())) {
            out.push((proto.clone(), rust, name.to_owned()));
        }
        let nested_rust = format!("{rust_prefix}::{}", snake(name));
        for nested in &message.nested_type {
            visit(nested, &proto, &nested_rust, out);
        }
    }
    let mut out = Vec::new();
    for file in &fds.file {
        let package = file.package();
        let Some(rest) = package.strip_prefix("gatehouse.") else { continue };
        let rust_prefix = format!("crate::pb::{}", rest.replace('.', "::"));
        for message in &file.message_type {
            visit(message, &format!(".{package}"), &rust_prefix, &mut out);
        }
    }
    out
}
