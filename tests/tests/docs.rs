//! The config reference in docs/guide.md is checked against the real config parser: the
//! example parses, every documented field is one the parser knows, and every field the
//! parser knows is documented.

use std::path::Path;

use mirra::config::Config;

fn guide() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/guide.md")).unwrap()
}

fn example_config(guide: &str) -> String {
    let start = guide.find("```toml\n").expect("guide has a toml example") + "```toml\n".len();
    let end = start + guide[start..].find("```").unwrap();
    guide[start..end].to_owned()
}

/// `policy.retries` and the like, from the reference table's first column.
fn documented_fields(guide: &str) -> Vec<String> {
    guide
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|f| !f.contains(' '))
        .map(str::to_owned)
        .collect()
}

fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, Path::new("guide.md")).map_err(|e| e.to_string())
}

/// The fields the parser accepts in the section where `probe` sits, read from its
/// "unknown field, expected one of ..." error.
fn parser_fields(example: &str, section_header: &str) -> Vec<String> {
    let probe = example.replacen(
        section_header,
        &format!("{section_header}\nnot_a_field = 1"),
        1,
    );
    let probe = if section_header.is_empty() {
        format!("not_a_field = 1\n{example}")
    } else {
        probe
    };
    let err = parse(&probe).expect_err("an unknown field must be refused");
    // serde says "expected `a`" for one field and "expected one of `a`, `b`" for more.
    let list = err
        .split("expected")
        .nth(1)
        .unwrap_or_else(|| panic!("no field list in: {err}"));
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_documented_example_parses() {
    let config = parse(&example_config(&guide())).unwrap();
    assert_eq!(config.providers.len(), 1);
    assert!(config.providers[0].chaos.is_some());
}

#[test]
fn documented_fields_and_parser_fields_are_the_same() {
    let guide = guide();
    let example = example_config(&guide);
    let documented = documented_fields(&guide);
    let sections = [
        ("", ""),
        ("identity.", "[identity]"),
        ("policy.", "[policy]"),
        ("gaia.", "[gaia]"),
        ("provider.", "[[provider]]"),
        ("provider.chaos.", "[provider.chaos]"),
    ];
    for (prefix, header) in sections {
        for field in parser_fields(&example, header) {
            let path = format!("{prefix}{field}");
            let covered = documented
                .iter()
                .any(|d| *d == path || d.starts_with(&format!("{path}.")));
            assert!(
                covered,
                "{path} is accepted by the parser but not documented in docs/guide.md"
            );
        }
    }
    for path in &documented {
        let leaf = path.rsplit('.').next().unwrap();
        assert!(
            example
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{leaf} ="))
                    || l.trim_start().starts_with(&format!("[{path}]"))),
            "{path} is documented but missing from the example"
        );
        // Misspelling it must be an error naming the misspelled field: the parser knows
        // the documented name.
        let misspelled = example.replacen(&format!("{leaf} ="), &format!("{leaf}_typo ="), 1);
        if misspelled != example {
            let err = parse(&misspelled).expect_err(path);
            assert!(err.contains(&format!("{leaf}_typo")), "{path}: {err}");
        }
    }
}

#[test]
fn every_example_config_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
            checked += 1;
        }
    }
    assert!(checked >= 1, "no example configs in {}", dir.display());
}

#[test]
fn the_example_zone_file_parses_with_a_key_and_uri_records() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/zonefile.txt");
    let text = std::fs::read_to_string(path).unwrap();
    let zone = mirra::zonefile::ZoneFile::parse(text.as_bytes()).unwrap();
    let key = zone.public_key_text().expect("a pubkey TXT record");
    mirra::identity::parse_public_key(&key).unwrap();
    assert_eq!(zone.uri_records().count(), 3);
}
