//! An S3 server on a directory, for the outage example and benchmarks:
//! `mirra-s3-server --root DIR [--listen 127.0.0.1:PORT]`. Each subdirectory of DIR is a
//! bucket. Credentials come from `MIRRA_S3_ACCESS_KEY` / `MIRRA_S3_SECRET_KEY`.

fn main() {
    let args = mirra_test_servers::Args::from_env().unwrap_or_else(|e| {
        eprintln!("mirra-s3-server: {e}");
        std::process::exit(2)
    });
    let access = std::env::var("MIRRA_S3_ACCESS_KEY").unwrap_or_else(|_| "mirra-demo".into());
    let secret =
        std::env::var("MIRRA_S3_SECRET_KEY").unwrap_or_else(|_| "mirra-demo-secret".into());
    let runtime = mirra_test_servers::serve_s3(&args.root, args.bind(), &access, &secret);
    mirra_test_servers::wait_for_shutdown(&runtime);
}
