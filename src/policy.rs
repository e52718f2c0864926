//! The one place that decides whether uploading may run now: the user's settings
//! (Wi-Fi only, cellular for photos and videos, require charging, pause) against what the
//! browser reports about the network and the battery.

use serde::{Deserialize, Serialize};

/// Battery level below which ferry stops when unplugged.
pub const LOW_BATTERY: f64 = 0.20;

/// The user's backup settings, as the PWA's settings screen stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Upload only on Wi-Fi (or Ethernet), unless cellular is allowed for the kind below.
    pub wifi_only: bool,
    pub cellular_photos: bool,
    pub cellular_videos: bool,
    pub require_charging: bool,
    /// The user paused the backup.
    pub paused: bool,
}

impl Default for Settings {
    /// Seed 000's defaults: Wi-Fi only, no cellular, charging not required.
    fn default() -> Self {
        Self {
            wifi_only: true,
            cellular_photos: false,
            cellular_videos: false,
            require_charging: false,
            paused: false,
        }
    }
}

/// What kind of link the device is on, from `navigator.connection.type` and `onLine`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Link {
    Offline,
    /// Wi-Fi or Ethernet: not metered.
    Wifi,
    /// Cellular, or the user asked the browser to save data.
    Cellular,
    /// The browser does not say (desktop browsers, Firefox, Safari).
    Unknown,
}

impl Link {
    /// Classifies the browser's report. `connection_type` is `navigator.connection.type`
    /// where it exists; `save_data` is `navigator.connection.saveData`.
    pub fn from_browser(online: bool, connection_type: Option<&str>, save_data: bool) -> Self {
        if !online {
            return Self::Offline;
        }
        match connection_type {
            Some("none") => Self::Offline,
            Some("cellular" | "wimax" | "bluetooth") => Self::Cellular,
            _ if save_data => Self::Cellular,
            Some("wifi" | "ethernet") => Self::Wifi,
            _ => Self::Unknown,
        }
    }
}

/// What the device reports right now.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    pub link: Link,
    /// 0.0–1.0, when `navigator.getBattery()` exists.
    pub battery_level: Option<f64>,
    pub charging: Option<bool>,
}

/// Photo or video: cellular use is allowed separately for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Photo,
    Video,
}

impl MediaKind {
    /// Videos by MIME type; everything else is treated like a photo.
    pub fn of_mime(mime: &str) -> Self {
        if mime.starts_with("video/") {
            Self::Video
        } else {
            Self::Photo
        }
    }
}

/// Why uploading waits. The words appear in the progress state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hold {
    Paused,
    Offline,
    WaitingForWifi,
    WaitingForCharging,
    LowBattery,
}

impl Hold {
    /// A stable code for programs (the serde name).
    pub fn code(self) -> &'static str {
        match self {
            Self::Paused => "paused",
            Self::Offline => "offline",
            Self::WaitingForWifi => "waiting-for-wifi",
            Self::WaitingForCharging => "waiting-for-charging",
            Self::LowBattery => "low-battery",
        }
    }

    /// What it means, in words for the person whose backup it is.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Paused => "Paused",
            Self::Offline => "Waiting for a connection",
            Self::WaitingForWifi => "Waiting for Wi-Fi",
            Self::WaitingForCharging => "Waiting for the charger",
            Self::LowBattery => "Battery below 20%: waiting for the charger",
        }
    }
}

/// May a file of `kind` upload now? `Err` says why not.
pub fn may_upload(settings: &Settings, now: &Conditions, kind: MediaKind) -> Result<(), Hold> {
    if settings.paused {
        return Err(Hold::Paused);
    }
    if now.link == Link::Offline {
        return Err(Hold::Offline);
    }
    let unplugged = now.charging == Some(false);
    if settings.require_charging && unplugged {
        return Err(Hold::WaitingForCharging);
    }
    if unplugged && now.battery_level.is_some_and(|level| level < LOW_BATTERY) {
        return Err(Hold::LowBattery);
    }
    if now.link == Link::Cellular && settings.wifi_only {
        let allowed = match kind {
            MediaKind::Photo => settings.cellular_photos,
            MediaKind::Video => settings.cellular_videos,
        };
        if !allowed {
            return Err(Hold::WaitingForWifi);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on(link: Link) -> Conditions {
        Conditions {
            link,
            battery_level: Some(0.9),
            charging: Some(false),
        }
    }

    #[test]
    fn defaults_upload_on_wifi_and_wait_on_cellular() {
        let s = Settings::default();
        assert_eq!(may_upload(&s, &on(Link::Wifi), MediaKind::Video), Ok(()));
        assert_eq!(
            may_upload(&s, &on(Link::Cellular), MediaKind::Photo),
            Err(Hold::WaitingForWifi)
        );
    }

    #[test]
    fn cellular_is_allowed_per_kind() {
        let s = Settings {
            cellular_photos: true,
            ..Settings::default()
        };
        assert_eq!(
            may_upload(&s, &on(Link::Cellular), MediaKind::Photo),
            Ok(())
        );
        assert_eq!(
            may_upload(&s, &on(Link::Cellular), MediaKind::Video),
            Err(Hold::WaitingForWifi)
        );
        let anything = Settings {
            wifi_only: false,
            ..Settings::default()
        };
        assert_eq!(
            may_upload(&anything, &on(Link::Cellular), MediaKind::Video),
            Ok(())
        );
    }

    #[test]
    fn unknown_link_type_is_not_held_back() {
        // Desktop browsers do not report the link type; ferry cannot tell, so it uploads
        // and the settings screen says so.
        assert_eq!(
            may_upload(&Settings::default(), &on(Link::Unknown), MediaKind::Video),
            Ok(())
        );
    }

    #[test]
    fn pause_and_offline_come_first() {
        let paused = Settings {
            paused: true,
            ..Settings::default()
        };
        assert_eq!(
            may_upload(&paused, &on(Link::Wifi), MediaKind::Photo),
            Err(Hold::Paused)
        );
        assert_eq!(
            may_upload(&Settings::default(), &on(Link::Offline), MediaKind::Photo),
            Err(Hold::Offline)
        );
    }

    #[test]
    fn battery_rules() {
        let s = Settings::default();
        let low = Conditions {
            link: Link::Wifi,
            battery_level: Some(0.15),
            charging: Some(false),
        };
        assert_eq!(
            may_upload(&s, &low, MediaKind::Photo),
            Err(Hold::LowBattery)
        );
        let low_but_charging = Conditions {
            charging: Some(true),
            ..low
        };
        assert_eq!(may_upload(&s, &low_but_charging, MediaKind::Photo), Ok(()));
        let charging_required = Settings {
            require_charging: true,
            ..s
        };
        assert_eq!(
            may_upload(&charging_required, &on(Link::Wifi), MediaKind::Photo),
            Err(Hold::WaitingForCharging)
        );
        let no_battery_api = Conditions {
            link: Link::Wifi,
            battery_level: None,
            charging: None,
        };
        assert_eq!(
            may_upload(&charging_required, &no_battery_api, MediaKind::Photo),
            Ok(())
        );
    }

    #[test]
    fn browser_reports_are_classified() {
        assert_eq!(
            Link::from_browser(false, Some("wifi"), false),
            Link::Offline
        );
        assert_eq!(Link::from_browser(true, Some("none"), false), Link::Offline);
        assert_eq!(
            Link::from_browser(true, Some("cellular"), false),
            Link::Cellular
        );
        assert_eq!(Link::from_browser(true, Some("wifi"), true), Link::Cellular);
        assert_eq!(
            Link::from_browser(true, Some("ethernet"), false),
            Link::Wifi
        );
        assert_eq!(Link::from_browser(true, None, false), Link::Unknown);
        assert_eq!(MediaKind::of_mime("video/mp4"), MediaKind::Video);
        assert_eq!(MediaKind::of_mime("image/heic"), MediaKind::Photo);
    }

    #[test]
    fn hold_codes_are_their_serde_names() {
        use Hold::*;
        for hold in [
            Paused,
            Offline,
            WaitingForWifi,
            WaitingForCharging,
            LowBattery,
        ] {
            assert_eq!(serde_json::to_value(hold).unwrap(), hold.code());
        }
    }

    #[test]
    fn settings_read_from_partial_json_keep_defaults() {
        let s: Settings = serde_json::from_str(r#"{"cellularVideos": true}"#).unwrap();
        assert!(s.wifi_only && s.cellular_videos && !s.paused);
    }
}
