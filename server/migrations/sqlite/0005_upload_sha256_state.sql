-- The SHA-256 state of an unfinished upload's acknowledged bytes (`sha256_state.rs`),
-- saved with each offset, so completion need not read the bytes again and any instance
-- can finish an upload another one started.
ALTER TABLE uploads ADD COLUMN sha256_state TEXT;
