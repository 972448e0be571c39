//! `ledger keygen`: a department's or a witness's Ed25519 key pair in files.
//!
//! The private key file holds the 32-byte Ed25519 seed in standard base64
//! on one line, mode 0600 — the format `ledger witness` keeps in
//! `DIR/witness.key`, so a key made here serves a witness as it is. The
//! public key file beside it holds the public key in the form
//! `POST /v1/admin/keys` takes (`public_key`, standard base64).
//!
//! It never overwrites a key, and it registers nothing: registration is the
//! administrator's act (`POST /v1/admin/keys` for a department,
//! `POST /v1/admin/witnesses` for a witness). [`read_signing_key`] is how
//! the other verbs (`append`, `catalog import`) load a key file.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use clap::Args;
use ed25519_dalek::SigningKey;
use ledger::KeyId;
use ledger::cosignature::Cosigner;
use ledger::keys::PublicKey;
use serde_json::json;

/// `ledger keygen`'s arguments; its help is [`KEYGEN_HELP`].
#[derive(Args, Debug)]
#[command(after_long_help = KEYGEN_HELP)]
pub struct KeygenArgs {
    /// Where to write: `PATH.key` and `PATH.pub` (a PATH ending in `.key`
    /// is the private key file itself). Existing files are never replaced.
    #[arg(long, short = 'o', value_name = "PATH")]
    out: PathBuf,
    /// A witness's name (a signed-note key name, e.g.
    /// supervision.example/w1): also print its C2SP cosignature verifier key.
    #[arg(long)]
    name: Option<String>,
    /// The department the key is for: print the complete registration body.
    #[arg(long)]
    department: Option<String>,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    json: bool,
}

/// The long help below the options.
const KEYGEN_HELP: &str = "\
Writes PATH.key (the Ed25519 seed, base64, mode 0600; the format of
ledger witness's DIR/witness.key) and PATH.pub (the public key). Prints the
public key as POST /v1/admin/keys takes it (\"public_key\"), its key id,
and with --name the witness's C2SP cosignature verifier key (\"verifier_key\"
of POST /v1/admin/witnesses). An existing key is never replaced (exit 2).

Example: ledger keygen --out keys/dept-market --department dept-market
Example: ledger keygen --out witness/witness --name supervision.example/w1";

pub async fn run(args: KeygenArgs) -> anyhow::Result<ExitCode> {
    let (private_path, public_path) = key_paths(&args.out);
    for path in [&private_path, &public_path] {
        anyhow::ensure!(
            !path.exists(),
            "{} already exists; keygen never replaces a key",
            path.display()
        );
    }
    if let Some(dir) = private_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let key = SigningKey::generate(&mut rand::rng());
    // Checked before anything is written, so a bad name leaves no files.
    let witness = args
        .name
        .as_deref()
        .map(|name| Cosigner::new(name, key.clone()))
        .transpose()
        .context("--name must be a signed-note key name")?
        .map(|c| c.verifier().to_verifier_key_string());
    let public = PublicKey::Ed25519(key.verifying_key());
    let public_b64 = public.to_base64();
    let key_id = KeyId::derive(&public);

    write_new(&private_path, 0o600, &BASE64.encode(key.to_bytes()))?;
    if let Err(e) = write_new(&public_path, 0o644, &public_b64) {
        // Leave no half pair behind.
        let _ = std::fs::remove_file(&private_path);
        return Err(e);
    }

    let register = json!({
        "department": args.department.as_deref().unwrap_or("<department>"),
        "alg": public.algorithm().as_str(),
        "public_key": public_b64,
    });
    if args.json {
        let mut out = json!({
            "alg": public.algorithm().as_str(),
            "public_key": public_b64,
            "key_id": key_id.as_str(),
            "private_key_file": private_path.display().to_string(),
            "public_key_file": public_path.display().to_string(),
            "register_key": register,
        });
        if let Some(vkey) = &witness {
            out["witness_verifier_key"] = json!(vkey);
        }
        println!("{out}");
    } else {
        println!("private key:  {} (mode 0600)", private_path.display());
        println!("public key:   {}", public_path.display());
        println!("public_key:   {public_b64}");
        println!("key id:       {key_id}");
        if let Some(vkey) = &witness {
            println!("witness key:  {vkey}");
        }
        println!("register:     POST /v1/admin/keys {register}");
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads a private key file written by `ledger keygen` (or `ledger
/// witness`): one line of base64, the 32-byte Ed25519 seed. Refuses a file
/// that others may read.
pub fn read_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("reading key {}", path.display()))?;
    let mode = meta.permissions().mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{} is readable by others (mode {:o}); it must be 0600",
        path.display(),
        mode & 0o777
    );
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading key {}", path.display()))?;
    let seed: [u8; 32] = BASE64
        .decode(text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .with_context(|| {
            format!(
                "{} is not a private key file (one line of base64: a 32-byte Ed25519 seed)",
                path.display()
            )
        })?;
    Ok(SigningKey::from_bytes(&seed))
}

/// `PATH` → (`PATH.key`, `PATH.pub`); `X.key` → (`X.key`, `X.pub`).
fn key_paths(out: &Path) -> (PathBuf, PathBuf) {
    if out.extension().is_some_and(|e| e == "key") {
        (out.to_path_buf(), out.with_extension("pub"))
    } else {
        let mut private = out.as_os_str().to_owned();
        private.push(".key");
        let mut public = out.as_os_str().to_owned();
        public.push(".pub");
        (PathBuf::from(private), PathBuf::from(public))
    }
}

/// Creates `path` (which must not exist) with `mode` and one line of text,
/// flushed to disk.
fn write_new(path: &Path, mode: u32, line: &str) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    // The umask may have narrowed a public key's mode; set it exactly.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    writeln!(f, "{line}")?;
    f.sync_all()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
