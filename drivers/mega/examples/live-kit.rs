//! The conformance kit against a real MEGA account. Not a test: `cargo test` never
//! reaches the internet, and a kit that passed without credentials would prove nothing.
//!
//! ```sh
//! MIRRA_MEGA_EMAIL=you@example.com MIRRA_MEGA_PASSWORD=... \
//!     cargo run -p mirra-driver-mega --example live-kit
//! ```
//!
//! Optional: `MIRRA_MEGA_ROOT_FOLDER` (default `mirra-live-kit`; the kit writes and
//! deletes under it, use a folder of its own), `MIRRA_MEGA_CHECKS` (comma-separated
//! check names, e.g. `round_trip,overwrite`; default all: paging over 1,100 keys takes
//! a while on MEGA).

use std::process::ExitCode;
use std::time::Instant;

use mirra_driver_api::{testkit, Capabilities, DriverFactory, StorageDriver};
use mirra_driver_mega::MegaFactory;

fn main() -> ExitCode {
    let set = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(email), Some(password)) = (set("MIRRA_MEGA_EMAIL"), set("MIRRA_MEGA_PASSWORD"))
    else {
        eprintln!(
            "live-kit needs a MEGA account: set MIRRA_MEGA_EMAIL and MIRRA_MEGA_PASSWORD \
             (and optionally MIRRA_MEGA_ROOT_FOLDER, default \"mirra-live-kit\"). \
             Nothing was run."
        );
        return ExitCode::from(2);
    };
    let root = set("MIRRA_MEGA_ROOT_FOLDER").unwrap_or_else(|| "mirra-live-kit".into());
    // Through toml, so quotes or backslashes in the password cannot break the config.
    let mut table = toml::Table::new();
    table.insert("email".into(), email.into());
    table.insert("password".into(), password.into());
    table.insert("root_folder".into(), root.clone().into());
    let config = table.to_string();

    let driver = match MegaFactory::open(&config) {
        Ok(driver) => driver,
        Err(e) => {
            eprintln!("live-kit: cannot open the provider: {e}");
            return ExitCode::FAILURE;
        }
    };
    let started = Instant::now();
    if let Err(e) = driver.health() {
        eprintln!("live-kit: MEGA does not answer or refuses the login: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "logged in, root folder {root:?} ({:.1?})",
        started.elapsed()
    );

    let capabilities = MegaFactory::info().capabilities;
    let only: Option<Vec<String>> = std::env::var("MIRRA_MEGA_CHECKS")
        .ok()
        .map(|s| s.split(',').map(|c| c.trim().to_owned()).collect());
    match only {
        None => {
            let summary = testkit::run_all(&*driver, capabilities);
            println!("passed {:?}", summary.passed);
            println!("skipped {:?}", summary.skipped);
        }
        Some(names) => {
            if !run_named(&*driver, capabilities, &names) {
                return ExitCode::FAILURE;
            }
        }
    }
    // Reads at an offset work, they are just not cheap (MEGA downloads whole files, so
    // the driver does not declare RANGE_READ and run_all skips the check): run it too.
    let t = Instant::now();
    match testkit::range_reads(&*driver, "mirra-live-kit-range/") {
        Ok(()) => println!(
            "range_reads (not declared, checked anyway): ok ({:.1?})",
            t.elapsed()
        ),
        Err(e) => {
            eprintln!("range_reads: {e}");
            return ExitCode::FAILURE;
        }
    }
    println!("live-kit passed in {:.1?}", started.elapsed());
    ExitCode::SUCCESS
}

fn run_named(driver: &dyn StorageDriver, capabilities: Capabilities, names: &[String]) -> bool {
    let mut ok = true;
    for name in names {
        let Some(check) = testkit::checks()
            .into_iter()
            .find(|c| c.name == name.as_str())
        else {
            eprintln!("no check named {name:?}");
            return false;
        };
        if !capabilities.contains(check.needs) {
            println!("{name}: skipped (needs {:?})", check.needs);
            continue;
        }
        let t = Instant::now();
        match (check.run)(driver, &format!("mirra-live-kit-{name}/")) {
            Ok(()) => println!("{name}: ok ({:.1?})", t.elapsed()),
            Err(e) => {
                eprintln!("{name}: FAILED: {e}");
                ok = false;
            }
        }
    }
    ok
}
