#![no_main]
//! Any bytes: the CSV reader returns rows or an error, never panics or hangs, in both modes.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = cyrisk_ingest::csv::parse(data, false);
    let _ = cyrisk_ingest::csv::parse(data, true);
});
