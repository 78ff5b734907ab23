//! The config `mirra init` writes: three local disk providers, no accounts anywhere.

use std::path::Path;

/// The text of the default config: `key_file` for the identity and three `disk`
/// providers (`disk-a`, `disk-b`, `disk-c`) under `providers_root`, quorum "majority".
pub fn default_config_text(key_file: &Path, providers_root: &Path) -> String {
    let provider = |name: &str| {
        format!(
            "[[provider]]\n\
             name = {name}\n\
             driver = \"disk\"                            # bare name -> libmirra_driver_disk.so, or a path\n\
             priority = 10                              # lower is tried first\n\
             weight = 1\n\
             [provider.config]                          # passed to the driver verbatim\n\
             root = {root}\n",
            name = toml_string(name),
            root = toml_string(&providers_root.join(name).to_string_lossy()),
        )
    };
    format!(
        "# mirra config, written by `mirra init`.\n\
         # Every object is mirrored to every [[provider]] below and verified on read\n\
         # against the key in [identity]. Add providers (s3, http, ...) as you like.\n\
         \n\
         [identity]\n\
         key_file = {key_file}      # secp256k1 secret key, mode 0600\n\
         \n\
         [policy]\n\
         write_quorum = \"majority\"                  # a number, \"all\" or \"majority\"\n\
         chunk_size = \"4MiB\"\n\
         timeout = \"30s\"\n\
         # hedge_after = \"250ms\"                 # default: twice each provider's p95 latency\n\
         \n\
         # Three local directories: a put survives losing any one of them.\n\
         {a}\n{b}\n{c}",
        key_file = toml_string(&key_file.to_string_lossy()),
        a = provider("disk-a"),
        b = provider("disk-b"),
        c = provider("disk-c"),
    )
}

/// A TOML basic string holding `value`, with quotes, backslashes and controls escaped.
fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_string()).to_string()
}
