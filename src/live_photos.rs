//! Live Photos: a still (HEIC or JPEG) and a MOV with the same base name in the same
//! folder, as an iPhone exports them (`IMG_0001.HEIC` and `IMG_0001.MOV`), are one asset:
//! the still, with the video as its motion part. The video is uploaded first; the still's
//! upload names the video's server asset (`livePhotoVideoId`), and the server hides the
//! video from the timeline and links it to the still.

use std::collections::HashMap;

use crate::asset::Asset;

const STILLS: [&str; 4] = ["heic", "heif", "jpg", "jpeg"];
const MOTION: &str = "mov";

/// Links the Live Photo pairs among `assets` (the files of one pick or drop): sets each
/// still's `live_photo_video` and its video's `live_photo_of`. A still or video already
/// paired keeps its pair. Each video goes with one still, the first one seen.
pub fn pair(assets: &mut [&mut Asset]) {
    // The folder and lowercase base name of every unpaired video, to its index.
    let key = |asset: &Asset, stem: &str| {
        format!("{}/{stem}", asset.album.as_deref().unwrap_or_default())
    };
    let mut videos: HashMap<String, usize> = HashMap::new();
    for (i, asset) in assets.iter().enumerate() {
        match split(&asset.name) {
            Some((stem, ext)) if ext == MOTION && asset.live_photo_of.is_none() => {
                videos.entry(key(asset, &stem)).or_insert(i);
            }
            _ => {}
        }
    }
    for i in 0..assets.len() {
        let Some((stem, ext)) = split(&assets[i].name) else {
            continue;
        };
        if !STILLS.contains(&ext.as_str()) || assets[i].live_photo_video.is_some() {
            continue;
        }
        let Some(v) = videos.remove(&key(assets[i], &stem)) else {
            continue;
        };
        let (still_id, video_id) = (assets[i].id.clone(), assets[v].id.clone());
        assets[i].live_photo_video = Some(video_id);
        assets[v].live_photo_of = Some(still_id);
    }
}

/// `("img_0001", "heic")` for `IMG_0001.HEIC`: the base name and extension, ASCII
/// lowercase (cameras name files in ASCII; full Unicode case tables would add about 15 KiB
/// to the wasm).
fn split(name: &str) -> Option<(String, String)> {
    let (stem, ext) = name.rsplit_once('.')?;
    (!stem.is_empty()).then(|| (stem.to_ascii_lowercase(), ext.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asset(id: &str, name: &str, album: Option<&str>) -> Asset {
        Asset::new(id.into(), name.into(), 1, 0.0, String::new(), 0.0)
            .in_album(album.map(str::to_string))
    }

    fn paired(mut assets: Vec<Asset>) -> Vec<(String, Option<String>, Option<String>)> {
        pair(&mut assets.iter_mut().collect::<Vec<_>>());
        assets
            .into_iter()
            .map(|a| (a.id, a.live_photo_video, a.live_photo_of))
            .collect()
    }

    #[test]
    fn a_still_and_a_mov_of_one_name_in_one_folder_are_a_pair() {
        let out = paired(vec![
            asset("v", "IMG_0001.MOV", Some("Trip")),
            asset("s", "IMG_0001.HEIC", Some("Trip")),
            asset("x", "IMG_0002.HEIC", Some("Trip")),
        ]);
        assert_eq!(out[0], ("v".into(), None, Some("s".into())));
        assert_eq!(out[1], ("s".into(), Some("v".into()), None));
        assert_eq!(out[2], ("x".into(), None, None));
    }

    #[test]
    fn case_and_jpeg_stills_pair_too() {
        let out = paired(vec![
            asset("s", "img_0003.jpg", None),
            asset("v", "IMG_0003.mov", None),
        ]);
        assert_eq!(out[0].1.as_deref(), Some("v"));
        assert_eq!(out[1].2.as_deref(), Some("s"));
    }

    #[test]
    fn other_folders_other_kinds_and_a_second_still_stay_apart() {
        let out = paired(vec![
            asset("s", "IMG_1.HEIC", Some("A")),
            asset("v", "IMG_1.MOV", Some("B")),
            asset("m", "IMG_2.MP4", Some("A")),
            asset("s2", "IMG_2.HEIC", Some("A")),
            asset("p", "IMG_3.PNG", Some("A")),
            asset("v3", "IMG_3.MOV", Some("A")),
            asset("a", "IMG_4.HEIC", Some("A")),
            asset("b", "IMG_4.JPG", Some("A")),
            asset("v4", "IMG_4.MOV", Some("A")),
            asset("dot", ".MOV", Some("A")),
            asset("dot2", ".HEIC", Some("A")),
        ]);
        let linked: Vec<_> = out
            .iter()
            .filter(|o| o.1.is_some() || o.2.is_some())
            .collect();
        assert_eq!(
            linked,
            [
                &("a".to_string(), Some("v4".to_string()), None),
                &("v4".to_string(), None, Some("a".to_string())),
            ]
        );
    }
}
