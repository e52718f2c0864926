//! The requests of one upload, in the protocol the server speaks: tus 1.0 or RUFH. The
//! runner decides what to do (through `upload::Upload`); this module says it on the wire
//! and reads the answers back into the same terms for both protocols.

use std::ops::Range;

use web_sys::{Blob, File};

use super::http::{reply_of, resolve_url, Server};
use crate::asset::Asset;
use crate::rufh::{self, InteropVersion};
use crate::tus::{self, ChecksumAlgorithm, Created, Header, ServerSupport};
use crate::upload::Failure;

/// Which resumable-upload protocol to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tus,
    Rufh(InteropVersion),
}

impl Protocol {
    /// `auto` follows discovery: tus when the server advertises it, RUFH otherwise.
    pub fn choose(requested: Requested, support: &ServerSupport) -> Self {
        match requested {
            Requested::Tus => Self::Tus,
            Requested::Rufh(version) => Self::Rufh(version),
            Requested::Auto if support.tus => Self::Tus,
            Requested::Auto => Self::Rufh(InteropVersion::default()),
        }
    }
}

/// The protocol the embedding page asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requested {
    Auto,
    Tus,
    Rufh(InteropVersion),
}

/// Why an append failed.
pub enum AppendError {
    /// No HTTP answer: a network failure, or a file that can no longer be read (the
    /// caller tells them apart).
    NoAnswer(String),
    /// The server answered, and not with success.
    Refused(Failure),
}

/// One upload's requests to one server.
pub struct Transfer<'a> {
    pub server: &'a Server,
    pub protocol: Protocol,
    pub support: &'a ServerSupport,
    /// This browser profile's device id (see `Catalog::device_id`).
    pub device_id: &'a str,
}

fn network(e: impl ToString) -> Failure {
    Failure::network(e.to_string())
}

impl Transfer<'_> {
    /// The algorithm of the `Upload-Checksum` each chunk carries, if the server verifies
    /// chunks (a tus extension; RUFH has none).
    pub fn chunk_checksum(&self) -> Option<ChecksumAlgorithm> {
        match self.protocol {
            Protocol::Tus => self.support.chunk_checksum,
            Protocol::Rufh(_) => None,
        }
    }

    /// Whether a file of `size` goes up whole in its creation request.
    pub fn sends_whole_at_creation(&self, size: u64, chunk_size: u64) -> bool {
        match self.protocol {
            Protocol::Tus => self.support.creation_with_upload && size > 0 && size <= chunk_size,
            // A RUFH creation that completes at once is an ordinary upload request.
            Protocol::Rufh(_) => size <= chunk_size,
        }
    }

    /// Creates the upload, declaring the file's checksum (when it is known already) so the
    /// server verifies it, and a Live Photo still's motion part (its server asset id).
    /// `whole` carries the entire file in the request (with its checksum header, if any).
    pub async fn create(
        &self,
        asset: &Asset,
        digest: Option<&str>,
        live_photo_video_id: Option<&str>,
        whole: Option<(&File, Option<Header>)>,
    ) -> Result<(String, Created), Failure> {
        let endpoint = self.server.uploads.clone();
        let modified = format!("{}", asset.last_modified as i64);
        let mut metadata = vec![
            ("filename", asset.name.as_str()),
            ("filetype", asset.declared_mime()),
            ("fileModifiedAt", modified.as_str()),
            ("deviceAssetId", asset.device_asset_id()),
            ("deviceId", self.device_id),
        ];
        if let Some(digest) = digest {
            metadata.push(("checksum", digest));
        }
        if let Some(video) = live_photo_video_id {
            metadata.push(("livePhotoVideoId", video));
        }
        if let Some(album) = &asset.album {
            metadata.push(("album", album.as_str()));
        }
        // `fileCreatedAt` and `duration` from the file's own bytes (see `crate::media`).
        let from_file = crate::media::upload_fields(asset.media.as_ref(), asset.last_modified);
        metadata.extend(from_file.iter().map(|(key, value)| (*key, value.as_str())));
        let headers = match self.protocol {
            Protocol::Tus => {
                let mut headers = tus::creation_headers(asset.size, &metadata);
                if let Some((_, checksum)) = &whole {
                    headers.push(("Content-Type", tus::CHUNK_CONTENT_TYPE.to_string()));
                    headers.extend(checksum.clone());
                }
                headers
            }
            Protocol::Rufh(version) => {
                rufh::creation_headers(version, asset.size, &metadata, whole.is_some())
            }
        };
        let body = whole.map(|(file, _)| file.as_ref());
        let response = self
            .server
            .send("POST", &endpoint, &headers, body)
            .await
            .map_err(network)?;
        let reply = reply_of(&response).await;
        let created = match self.protocol {
            Protocol::Tus => tus::created(&reply, asset.size)?,
            Protocol::Rufh(_) => rufh::created(&reply, asset.size, body.is_some())?,
        };
        let url = resolve_url(&created.location, &endpoint).map_err(network)?;
        Ok((url, created))
    }

    /// How many of `size` bytes the server holds at `url`.
    pub async fn offset(&self, url: &str, size: u64) -> Result<u64, Failure> {
        let headers = match self.protocol {
            Protocol::Tus => tus::offset_headers(),
            Protocol::Rufh(version) => rufh::offset_headers(version),
        };
        let response = self
            .server
            .send("HEAD", url, &headers, None)
            .await
            .map_err(network)?;
        let reply = reply_of(&response).await;
        Ok(match self.protocol {
            Protocol::Tus => tus::current_offset(&reply, size)?,
            Protocol::Rufh(_) => rufh::current_offset(&reply, size)?,
        })
    }

    /// Sends `chunk`, the bytes `range` of a file of `size` bytes, with an optional
    /// checksum header. Returns the server's new offset and, at the end, the asset id.
    pub async fn append(
        &self,
        url: &str,
        chunk: &Blob,
        range: Range<u64>,
        size: u64,
        checksum: Option<Header>,
    ) -> Result<(u64, Option<String>), AppendError> {
        let last = range.end == size;
        let headers = match self.protocol {
            Protocol::Tus => {
                let mut headers = tus::chunk_headers(range.start);
                headers.extend(checksum);
                headers
            }
            Protocol::Rufh(version) => rufh::append_headers(version, range.start, last),
        };
        let response = match self.server.send("PATCH", url, &headers, Some(chunk)).await {
            Ok(response) => response,
            Err(e) => return Err(AppendError::NoAnswer(e.to_string())),
        };
        let reply = reply_of(&response).await;
        let offset = match self.protocol {
            Protocol::Tus => tus::chunk_accepted(&reply, range.start, range.end),
            Protocol::Rufh(_) => rufh::appended(&reply, range.start, range.end, last),
        };
        offset
            .map(|offset| (offset, reply.asset_id))
            .map_err(|e| AppendError::Refused(e.into()))
    }

    /// Cancels the upload at `url`; the server's expiry would clean it up anyway.
    pub async fn cancel(&self, url: &str) {
        let headers = match self.protocol {
            Protocol::Tus => tus::offset_headers(),
            Protocol::Rufh(version) => rufh::offset_headers(version),
        };
        let _ = self.server.send("DELETE", url, &headers, None).await;
    }
}
