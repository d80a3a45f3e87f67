#![no_main]
//! Any bytes: the Nessus reader returns a scan or an error, never panics or hangs.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = cyrisk_ingest::nessus::Options {
        default_date: chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
    };
    let _ = cyrisk_ingest::nessus::parse(data, options);
});
