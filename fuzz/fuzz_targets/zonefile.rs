//! The zone-file parser on arbitrary bytes: it must never panic or hang, and whatever it
//! accepts must write back to text that parses to the same zone file.

#![no_main]

use libfuzzer_sys::fuzz_target;
use mirra::zonefile::ZoneFile;

fuzz_target!(|data: &[u8]| {
    if let Ok(zone) = ZoneFile::parse(data) {
        let text = zone.to_text();
        // Written text may exceed the input limit (inherited owners are spelled out).
        let again = ZoneFile::parse_with_limit(text.as_bytes(), usize::MAX)
            .unwrap_or_else(|e| panic!("written zone file does not parse: {e}\n{text}"));
        assert_eq!(again, zone, "round trip changed the zone file:\n{text}");
    }
});
