-- RUFH uploads may start without a known length (no Upload-Length, Upload-Complete: ?0).
-- While `length_deferred` is 1, `upload_length` means nothing; it is set when the length
-- becomes known (an Upload-Length header, or the request that completes the upload).
ALTER TABLE uploads ADD COLUMN length_deferred INTEGER NOT NULL DEFAULT 0;
