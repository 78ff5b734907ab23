//! Whole-file tests: Blockstack's 2017 zone files, round trips, the size limit, and a
//! bounded property suite (arbitrary bytes and mutated zone files) that CI runs.

use proptest::prelude::*;

use super::*;
use crate::identity::parse_public_key;

/// From Blockstack's "How Blockstack could address Amazon S3 outages" (2017), as posted.
const JUDE_2017: &str = "$TTL 3600
pubkey TXT \"pubkey:data:04cabba0b5b9a871dbaa11c044066e281c5feb57243c7d2a452f06a0d708613a46ced59f9f806e601b3353931d1e4a98d7040127f31016311050bedc0d4f1f62ff\"
_file URI 10 1 \"file:///home/jude/.blockstack/storage-disk/mutable/\"
_https._tcp URI 10 1 \"\"
http._tcp URI 10 1 \"\"
_dht._udp URI 10 1 \"dht+udp://fc4d9c1481a6349fe99f0e3dd7261d67b23dadc5\"
";

/// The layout of issue 5's sample (key shortened there; a full one here).
const CRYPTOCRACY_2017: &str = "$ORIGIN cryptocracy.id
$TTL 3600
pubkey TXT \"pubkey:data:0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\"
_file URI 10 1 \"file:///home/ty/.blockstack/storage-disk/mutable/cryptocracy.id\"
_https._tcp URI 10 1 \"https://blockstack.s3.amazonaws.com/cryptocracy.id\"
_http._tcp URI 10 1 \"http://node.blockstack.org:6264/RPC2#cryptocracy.id\"
_dht._udp URI 10 1 \"dht+udp://d207db4d29ec7d3c1b1a3b1f8a7e1d2c3b4a5f6e\"
";

/// A file using every syntax feature the parser supports.
const EVERY_FEATURE: &str = "; a comment line
$ORIGIN example.com.   ; trailing comment
$TTL 1d
@        IN  SOA ns1 hostmaster (
                 2017030101 ; serial
                 1h 15m 1w 1h )
         in  NS  ns1
ns1      3600 A 192.0.2.1
         AAAA 2001:db8::1
www.example.com. 60 IN CNAME @
pubkey   TXT \"pubkey:data:\" \"0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798\"
note     TXT \"quote \\\" backslash \\\\ byte \\255 semicolon ; done\" unquoted\\ word
_https._tcp URI 10 1 \"https://example.com/alice/\"
_s3      2h URI 20 0 \"s3://bucket/alice/\"
$ORIGIN sub
x        TXT \"in sub.example.com.\"
_srv._tcp SRV 0 5 5060 sip
";

fn parse(text: &str) -> ZoneFile {
    ZoneFile::parse(text.as_bytes()).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn assert_round_trip(zone: &ZoneFile) {
    let text = zone.to_text();
    // Written output may exceed the input limit: inherited owners are spelled out.
    let again = ZoneFile::parse_with_limit(text.as_bytes(), usize::MAX)
        .unwrap_or_else(|e| panic!("written zone file does not parse: {e}\n{text}"));
    assert_eq!(&again, zone, "round trip changed the zone file:\n{text}");
    assert_eq!(again.to_text(), text, "writing is not stable");
}

#[test]
fn blockstack_2017_files_parse_as_they_are() {
    let zone = parse(JUDE_2017);
    let key = zone.public_key_text().expect("pubkey TXT record");
    let key = parse_public_key(&key).expect("Jude's uncompressed key is a valid point");
    assert_eq!(key.serialize_uncompressed()[0], 4);
    let uris: Vec<_> = zone
        .uri_records()
        .map(|(name, u)| (name, u.target.as_str()))
        .collect();
    assert_eq!(
        uris,
        [
            (
                "_file",
                "file:///home/jude/.blockstack/storage-disk/mutable/"
            ),
            ("_https._tcp", ""),
            ("http._tcp", ""),
            (
                "_dht._udp",
                "dht+udp://fc4d9c1481a6349fe99f0e3dd7261d67b23dadc5"
            ),
        ]
    );
    assert_round_trip(&zone);

    let zone = parse(CRYPTOCRACY_2017);
    assert_eq!(zone.entries[0], ZoneEntry::Origin("cryptocracy.id".into()));
    let names: Vec<_> = zone
        .uri_records()
        .map(|(name, _)| relative_name(name, Some("cryptocracy.id")))
        .collect();
    assert_eq!(names, ["_file", "_https._tcp", "_http._tcp", "_dht._udp"]);
    parse_public_key(&zone.public_key_text().unwrap()).expect("compressed key");
    assert_round_trip(&zone);
    // The canonical layout of a Blockstack file is the file itself, give or take spaces.
    let squeezed = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(squeezed(&zone.to_text()), squeezed(CRYPTOCRACY_2017));
}

#[test]
fn every_feature_parses_and_round_trips() {
    let zone = parse(EVERY_FEATURE);
    let summary: Vec<(String, Option<u32>, String)> = zone
        .records()
        .map(|r| (r.name.clone(), r.ttl, r.data.rtype().to_owned()))
        .collect();
    let expected = [
        ("example.com.", None, "SOA"),
        ("example.com.", None, "NS"),
        ("ns1.example.com.", Some(3600), "A"),
        ("ns1.example.com.", None, "AAAA"),
        ("www.example.com.", Some(60), "CNAME"),
        ("pubkey.example.com.", None, "TXT"),
        ("note.example.com.", None, "TXT"),
        ("_https._tcp.example.com.", None, "URI"),
        ("_s3.example.com.", Some(7200), "URI"),
        ("x.sub.example.com.", None, "TXT"),
        ("_srv._tcp.sub.example.com.", None, "SRV"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(n, t, ty)| (n.to_string(), *t, ty.to_string()))
        .collect();
    assert_eq!(summary, expected);
    assert_eq!(zone.entries[1], ZoneEntry::Ttl(86_400));
    let soa = zone.records().next().unwrap();
    assert_eq!(
        soa.data,
        RecordData::Other {
            rtype: "SOA".into(),
            rdata: ["ns1", "hostmaster", "2017030101", "1h", "15m", "1w", "1h"]
                .map(String::from)
                .to_vec()
        }
    );
    let note = zone.records().nth(6).unwrap();
    assert_eq!(
        note.data,
        RecordData::Txt(vec![
            b"quote \" backslash \\ byte \xff semicolon ; done".to_vec(),
            b"unquoted word".to_vec()
        ])
    );
    // Split strings join into the key.
    assert_eq!(
        zone.public_key_text().unwrap(),
        "pubkey:data:0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"
    );
    assert_round_trip(&zone);
}

#[test]
fn size_limit_is_checked_before_parsing() {
    // Garbage that would be a syntax error at line 1: the size is what is reported.
    let big = vec![b'"'; DEFAULT_SIZE_LIMIT + 1];
    assert_eq!(
        ZoneFile::parse(&big).unwrap_err(),
        ZoneFileError::TooLarge {
            size: DEFAULT_SIZE_LIMIT + 1,
            limit: DEFAULT_SIZE_LIMIT
        }
    );
    let err = ZoneFile::parse_with_limit(JUDE_2017.as_bytes(), 100).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "zone file too large: {} bytes, over the 100-byte limit",
            JUDE_2017.len()
        )
    );
    // Exactly at the limit is fine.
    let mut exact = "a TXT x\n".to_string();
    exact.push_str(&";".repeat(DEFAULT_SIZE_LIMIT - exact.len()));
    assert_eq!(parse(&exact).records().count(), 1);
}

#[test]
fn invalid_utf8_is_located() {
    let err = ZoneFile::parse(b"a TXT x\nb TXT \"\xc3\x28\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "line 2, column 8: expected UTF-8 text, found byte 0xc3"
    );
    assert_eq!(err.position(), Some((2, 8)));
}

#[test]
fn uri_owner_names_follow_blockstack() {
    assert_eq!(uri_owner_for_scheme("https"), "_https._tcp");
    assert_eq!(uri_owner_for_scheme("HTTP"), "_http._tcp");
    assert_eq!(uri_owner_for_scheme("file"), "_file");
    assert_eq!(uri_owner_for_scheme("s3"), "_s3");
    assert_eq!(uri_owner_for_scheme("dht+udp"), "_dht._udp");
    assert_eq!(uri_owner_for_scheme("git+ssh"), "_git-ssh");
}

#[test]
fn worst_case_inputs_parse_in_proportional_memory() {
    // Inputs aimed at quadratic behaviour: long inherited owners, many tiny records,
    // long escape runs, deep comment runs. What is held must stay proportional to the
    // input (time is not asserted here: a loaded CI machine makes wall-clock bounds lie).
    let owner = "a".repeat(250);
    let mut inherited = format!("{owner} TXT x\n");
    while inherited.len() < DEFAULT_SIZE_LIMIT - 10 {
        inherited.push_str(" A 1\n");
    }
    let mut at_origin = format!("$ORIGIN {}.\n", "b".repeat(250));
    while at_origin.len() < DEFAULT_SIZE_LIMIT - 10 {
        at_origin.push_str("@ A\n");
    }
    let escapes = format!("a TXT \"{}\"\n", "\\255".repeat(16_000));
    let inputs = [
        inherited,
        at_origin,
        escapes,
        "(".repeat(DEFAULT_SIZE_LIMIT),
        ";".repeat(DEFAULT_SIZE_LIMIT),
        "\n".repeat(DEFAULT_SIZE_LIMIT),
    ];
    for input in &inputs {
        if let Ok(zone) = ZoneFile::parse(input.as_bytes()) {
            assert!(held_bytes(&zone) <= 100 * input.len() + 1024);
            assert_round_trip(&zone);
        }
    }
}

/// Roughly the heap a parsed zone file holds: it must stay proportional to the input.
fn held_bytes(zone: &ZoneFile) -> usize {
    zone.entries
        .iter()
        .map(|e| match e {
            ZoneEntry::Origin(name) => name.len(),
            ZoneEntry::Ttl(_) => 4,
            ZoneEntry::Record(r) => {
                let data = match &r.data {
                    RecordData::Txt(strings) => strings.iter().map(|s| s.len() + 24).sum(),
                    RecordData::Uri(uri) => uri.target.len() + 4,
                    RecordData::Other { rtype, rdata } => {
                        rtype.len() + rdata.iter().map(|s| s.len() + 24).sum::<usize>()
                    }
                };
                r.name.len() + r.class.len() + 64 + data
            }
        })
        .sum()
}

/// Checks one input: no panic (proptest reports one), bounded memory, and a round trip
/// for whatever parses.
fn check_input(input: &[u8]) -> Result<(), TestCaseError> {
    let parsed = ZoneFile::parse(input);
    match parsed {
        Ok(zone) => {
            prop_assert!(
                held_bytes(&zone) <= 100 * input.len() + 1024,
                "{} bytes held for {} of input",
                held_bytes(&zone),
                input.len()
            );
            let text = zone.to_text();
            let again = ZoneFile::parse_with_limit(text.as_bytes(), usize::MAX);
            prop_assert_eq!(again.as_ref(), Ok(&zone), "written:\n{}", text);
        }
        Err(e) => {
            if let Some((line, column)) = e.position() {
                let lines = input.iter().filter(|&&b| b == b'\n').count() + 1;
                prop_assert!(line >= 1 && line <= lines && column >= 1, "{e}");
            }
        }
    }
    Ok(())
}

/// Zone-file pieces for the mutation strategy: the characters that matter to the lexer
/// and parser, and whole fragments of real records.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(" ".to_owned()),
        Just("\t".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("(".to_owned()),
        Just(")".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just(";".to_owned()),
        Just("@".to_owned()),
        Just(".".to_owned()),
        Just("$".to_owned()),
        Just("$ORIGIN ".to_owned()),
        Just("$TTL ".to_owned()),
        Just("$INCLUDE ".to_owned()),
        Just(" IN ".to_owned()),
        Just(" TXT ".to_owned()),
        Just(" URI ".to_owned()),
        Just("\\255".to_owned()),
        Just("\\0".to_owned()),
        "[0-9]{1,12}[smhdw]?",
        "[a-zA-Z_][a-zA-Z0-9_.-]{0,12}",
        "\\PC{0,4}",
    ]
}

fn mutated_zone_file() -> impl Strategy<Value = Vec<u8>> {
    let base = prop_oneof![Just(JUDE_2017), Just(CRYPTOCRACY_2017), Just(EVERY_FEATURE)];
    (
        base,
        prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, fragment()), 1..8),
    )
        .prop_map(|(base, edits)| {
            let mut text = base.as_bytes().to_vec();
            for (at, removed, insert) in edits {
                let at = at.index(text.len() + 1);
                let end = (at + removed).min(text.len());
                text.splice(at..end, insert.into_bytes());
            }
            text
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(input in prop::collection::vec(any::<u8>(), 0..512)) {
        check_input(&input)?;
    }

    #[test]
    fn arbitrary_zone_text_never_panics(input in "[ -~\t\n]{0,256}") {
        check_input(input.as_bytes())?;
    }

    #[test]
    fn mutated_zone_files_never_panic(input in mutated_zone_file()) {
        check_input(&input)?;
    }
}
