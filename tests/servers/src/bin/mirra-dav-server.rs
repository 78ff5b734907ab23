//! A WebDAV server on a directory, for the outage example:
//! `mirra-dav-server --root DIR [--listen 127.0.0.1:PORT]`. Anonymous reads and writes.

fn main() {
    let args = mirra_test_servers::Args::from_env().unwrap_or_else(|e| {
        eprintln!("mirra-dav-server: {e}");
        std::process::exit(2)
    });
    let runtime = mirra_test_servers::serve_webdav(&args.root, args.bind(), None);
    mirra_test_servers::wait_for_shutdown(&runtime);
}
