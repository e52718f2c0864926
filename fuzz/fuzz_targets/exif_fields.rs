//! A photo's EXIF (its TIFF data) walked by ferry's own reader (`media-meta/src/tiff.rs`)
//! must give the date kamadak-exif's reader gives, whenever kamadak-exif can read it and
//! the walk read the whole TIFF (it reads at most a few EXIF IFDs; kamadak-exif all).
#![no_main]
use libfuzzer_sys::fuzz_target;
use media_meta::fuzzing::{taken_at_by_kamadak_exif, taken_at_in_tiff_read_whole};

fuzz_target!(|tiff: &[u8]| {
    if let (Some(ours), Some(theirs)) = (
        taken_at_in_tiff_read_whole(tiff),
        taken_at_by_kamadak_exif(tiff),
    ) {
        assert_eq!(ours, theirs);
    }
});
