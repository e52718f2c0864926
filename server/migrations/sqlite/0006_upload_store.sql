-- Where an unfinished upload's bytes are, for stores that keep state (`s3.rs`: the S3
-- multipart upload, its part size and its tail object, as JSON), and the ETags of its
-- finished S3 parts. NULL and no parts on the local disk.
ALTER TABLE uploads ADD COLUMN store_state TEXT;
CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    part_number BIGINT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
);
