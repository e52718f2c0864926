//! A photo's EXIF (its TIFF data) walked by ferry's own reader (`media-meta/src/tiff.rs`)
//! must give the date kamadak-exif's reader gives, whenever kamadak-exif can read it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use media_meta::fuzzing::{taken_at_by_kamadak_exif, taken_at_in_tiff};

fuzz_target!(|tiff: &[u8]| {
    let ours = taken_at_in_tiff(tiff);
    if let Some(theirs) = taken_at_by_kamadak_exif(tiff) {
        assert_eq!(ours, theirs);
    }
});
