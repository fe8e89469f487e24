//! Points the embedded dashboard at `ui/dist` when it has been built, else at a page that says
//! how to build it, so the server always compiles.

use std::path::PathBuf;
use std::{env, fs};

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let dist = manifest.join("../../ui/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-env-changed=MIRRORD_USAGE_UI_DIST");
    let dir = match env::var("MIRRORD_USAGE_UI_DIST") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) if dist.join("index.html").is_file() => dist,
        Err(_) => {
            let placeholder = PathBuf::from(env::var("OUT_DIR").expect("set by cargo")).join("ui-placeholder");
            fs::create_dir_all(&placeholder).expect("create placeholder dir");
            fs::write(
                placeholder.join("index.html"),
                "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>mirrord usage</title>\
                 <body><h1>mirrord usage</h1><p>The dashboard was not built into this binary. \
                 Build it with <code>make ui</code> (or <code>npm ci &amp;&amp; npm run build</code> in <code>ui/</code>), \
                 then build the binary again. The API is available under <code>/api/v1</code>.</p></body></html>",
            )
            .expect("write placeholder");
            placeholder
        }
    };
    let dir = dir.canonicalize().expect("dashboard directory exists");
    println!("cargo:rustc-env=MIRRORD_USAGE_UI_DIR={}", dir.display());
}
