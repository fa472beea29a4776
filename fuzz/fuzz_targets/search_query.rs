//! Any string either parses as a peersearch query (and then translates to SQL whose
//! placeholders all have values), or fails with an error.
#![no_main]
use libfuzzer_sys::fuzz_target;
use peergroup_state::SearchQuery;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(query) = SearchQuery::parse(s) {
            let (sql, values) = query.to_sql();
            assert_eq!(sql.matches('?').count(), values.len());
        }
    }
});
