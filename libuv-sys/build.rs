//! Link-mode selection. `vendored` needs nothing here (libuv-sys2 builds and links libuv);
//! `host` links nothing; `system` finds the system libuv with our own pkg-config probe
//! (libuv-sys2's probe accepts only 1.53.x, and we support 1.44 and newer).

use std::process::Command;

const MIN: (u32, u32) = (1, 44);

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_SYSTEM").is_none()
        || std::env::var_os("CARGO_FEATURE_HOST").is_some()
    {
        return;
    }
    let pkg = |args: &[&str]| -> Result<String, String> {
        let out = Command::new("pkg-config")
            .args(args)
            .arg("libuv")
            .output()
            .map_err(|e| format!("cannot run pkg-config: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let fail = |why: String| -> ! {
        panic!(
            "uvio-sys (feature `system`): {why}\n\
             Install libuv's development package (Debian: `apt-get install libuv1-dev`), \
             or use the default `vendored` feature."
        )
    };
    let version = pkg(&["--modversion"]).unwrap_or_else(|e| fail(e));
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if found < MIN {
        fail(format!(
            "found libuv {version}, need at least {}.{}",
            MIN.0, MIN.1
        ));
    }
    for flag in pkg(&["--libs"])
        .unwrap_or_else(|e| fail(e))
        .split_whitespace()
    {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={lib}");
        }
    }
}
