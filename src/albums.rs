//! Albums are the folders files come from. The user picks which to back up and which to
//! exclude; as in seed 002, candidates are the selected albums minus the excluded ones,
//! and an exclusion always wins.

use serde::{Deserialize, Serialize};

/// The album of a file at `path` (`"DCIM/Camera/IMG_1.jpg"` → `"Camera"`): its parent
/// folder's name, or `None` for a file picked on its own.
pub fn album_of(path: &str) -> Option<&str> {
    let mut parts = path.rsplit(['/', '\\']).skip(1);
    parts.next().filter(|name| !name.is_empty())
}

/// Which albums to back up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AlbumRules {
    /// Albums to back up; empty means every album ("Recents").
    pub include: Vec<String>,
    /// Albums never to back up, even if included.
    pub exclude: Vec<String>,
}

impl AlbumRules {
    /// Whether a file in `album` (or in no album) is a backup candidate.
    pub fn admits(&self, album: Option<&str>) -> bool {
        let named = |list: &[String], name: &str| list.iter().any(|a| a.eq_ignore_ascii_case(name));
        match album {
            Some(album) if named(&self.exclude, album) => false,
            Some(album) => self.include.is_empty() || named(&self.include, album),
            // A file picked on its own was chosen explicitly.
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn album_is_the_parent_folder() {
        assert_eq!(album_of("DCIM/Camera/IMG_1.jpg"), Some("Camera"));
        assert_eq!(album_of("Holiday 🌴/a.jpg"), Some("Holiday 🌴"));
        assert_eq!(album_of("C:\\Photos\\Trip\\a.jpg"), Some("Trip"));
        assert_eq!(album_of("a.jpg"), None);
        assert_eq!(album_of(""), None);
    }

    #[test]
    fn everything_is_included_by_default() {
        let rules = AlbumRules::default();
        assert!(rules.admits(Some("Camera")));
        assert!(rules.admits(None));
    }

    #[test]
    fn candidates_are_selected_minus_excluded_and_exclusion_wins() {
        let rules = AlbumRules {
            include: vec!["Camera".into(), "WhatsApp Images".into()],
            exclude: vec!["WhatsApp Images".into(), "Screenshots".into()],
        };
        assert!(rules.admits(Some("Camera")));
        assert!(
            rules.admits(Some("camera")),
            "names match case-insensitively"
        );
        assert!(!rules.admits(Some("WhatsApp Images")), "exclusion wins");
        assert!(!rules.admits(Some("Screenshots")));
        assert!(!rules.admits(Some("Downloads")), "not selected");
        assert!(
            rules.admits(None),
            "a single picked file was chosen on purpose"
        );
    }
}
