-- Live Photos: a photo upload names its motion part (`livePhotoVideoId`, an asset the
-- client uploaded first); on completion the photo links it and the video is hidden from
-- the timeline as that photo's motion part.
ALTER TABLE uploads ADD COLUMN live_photo_video_id TEXT;
ALTER TABLE assets ADD COLUMN live_photo_video_id TEXT;
ALTER TABLE assets ADD COLUMN is_motion_part INTEGER NOT NULL DEFAULT 0;
