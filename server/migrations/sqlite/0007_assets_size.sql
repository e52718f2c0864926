-- The engine asks which sizes a user's assets have (POST /api/assets/sizes) before it
-- uploads a large file it is still hashing.
CREATE INDEX assets_size ON assets (user_id, file_size);
