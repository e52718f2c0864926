-- The blob store's resume state for an unfinished upload at its acknowledged offset (S3:
-- multipart id, part ETags and the SHA-256 state so far), JSON. NULL for the local disk,
-- where the partial file itself is the state.
ALTER TABLE uploads ADD COLUMN store_state TEXT;
