//! The configs users copy are checked against the driver's parser: the MEGA example in
//! docs/providers.md and in this crate's README parse, the providers table has the MEGA
//! row, and the README's field table lists exactly the fields the parser knows.

use std::path::Path;

use mirra_driver_mega::MegaConfig;

fn read(relative: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)).unwrap()
}

/// The `[provider.config]` table of every ```toml block whose provider uses the mega
/// driver, as TOML text (what the host hands to `open`).
fn mega_configs(markdown: &str) -> Vec<String> {
    markdown
        .split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .filter_map(|block| {
            let doc: toml::Table = block.parse().unwrap_or_else(|e| panic!("{e}\n{block}"));
            let providers = doc.get("provider")?.as_array()?;
            let provider = providers
                .iter()
                .find(|p| p["driver"].as_str() == Some("mega"))?;
            Some(
                provider["config"]
                    .as_table()
                    .expect("a config table")
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn the_providers_page_has_a_mega_row_and_a_config_that_parses() {
    let page = read("../../docs/providers.md");
    let row = page
        .lines()
        .find(|l| l.starts_with("| MEGA |"))
        .expect("a MEGA row in the providers table");
    assert!(row.contains("`mega`"), "{row}");
    assert!(
        row.contains("documented, not tested from CI (needs an account)"),
        "{row}"
    );
    let configs = mega_configs(&page);
    assert_eq!(configs.len(), 1, "one mega example in docs/providers.md");
    for config in configs {
        let parsed = MegaConfig::parse(&config).unwrap_or_else(|e| panic!("{e}\n{config}"));
        assert_eq!(parsed.email, "alice@example.com");
    }
}

#[test]
fn the_readme_config_parses_and_its_field_table_is_the_parsers() {
    let readme = read("README.md");
    let configs = mega_configs(&readme);
    assert_eq!(configs.len(), 1, "one mega example in the README");
    MegaConfig::parse(&configs[0]).unwrap_or_else(|e| panic!("{e}"));

    let mut documented: Vec<String> = readme
        .lines()
        .skip_while(|l| !l.starts_with("| field |"))
        .skip(2)
        .take_while(|l| l.starts_with("| `"))
        .map(|l| l.split('`').nth(1).unwrap().to_owned())
        .collect();
    // The parser lists its fields when it refuses an unknown one.
    let err = MegaConfig::parse(&format!("{}\nnot_a_field = 1", configs[0])).unwrap_err();
    let list = err.message.split("expected").nth(1).expect("a field list");
    let mut known: Vec<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    documented.sort();
    known.sort();
    assert_eq!(documented, known);
}
