-- Bitrix24 client state shared by every replica: the portal's leaky bucket and the OAuth tokens.

-- name: b24_rate_take
-- Reserve the next request slot of a portal's leaky bucket and say how long until it is due.
-- The level drains $2 per second since updated_at (PostgreSQL's clock, read after the row lock, so
-- replicas with skewed clocks agree), then grows by one; the wait is the part above the burst.
-- $1 portal, $2 drain rate per second, $3 capacity (the burst less the slots the client keeps free for jitter)
INSERT INTO b24_rate_buckets AS b (portal, level, updated_at)
VALUES ($1, 1, clock_timestamp())
ON CONFLICT (portal) DO UPDATE
   SET level = greatest(b.level - greatest(extract(epoch FROM clock_timestamp() - b.updated_at)::float8, 0) * $2, 0) + 1,
       updated_at = clock_timestamp()
RETURNING greatest(b.level - $3, 0) / $2 AS wait_seconds;

-- name: b24_rate_saturate
-- The portal answered QUERY_LIMIT_EXCEEDED: its bucket is full, so mark ours full too (never lower it).
-- $1 portal, $2 drain rate per second, $3 burst
INSERT INTO b24_rate_buckets AS b (portal, level, updated_at)
VALUES ($1, $3, clock_timestamp())
ON CONFLICT (portal) DO UPDATE
   SET level = greatest(b.level - greatest(extract(epoch FROM clock_timestamp() - b.updated_at)::float8, 0) * $2, $3),
       updated_at = clock_timestamp();

-- name: b24_oauth_seed
-- Record the refresh token from the settings.  A row that already exists keeps its (newer) tokens unless
-- the operator put a different initial token in the settings (re-authorisation): then that one wins.
-- $1 portal, $2 client_id, $3 refresh_token, $4 sha256 of the settings' refresh token
INSERT INTO b24_oauth_tokens (portal, client_id, refresh_token, seed_hash)
VALUES ($1, $2, $3, $4)
ON CONFLICT (portal, client_id) DO UPDATE
   SET refresh_token = excluded.refresh_token, access_token = NULL, expires_at = NULL,
       seed_hash = excluded.seed_hash, updated_at = now()
 WHERE b24_oauth_tokens.seed_hash IS DISTINCT FROM excluded.seed_hash;

-- name: b24_oauth_get
-- The current tokens of an app on a portal.
-- $1 portal, $2 client_id
SELECT access_token, refresh_token, expires_at
  FROM b24_oauth_tokens
 WHERE portal = $1 AND client_id = $2;

-- name: b24_oauth_lock
-- Same, locking the row until the transaction ends: one replica refreshes, the others then adopt.
-- $1 portal, $2 client_id
SELECT access_token, refresh_token, expires_at
  FROM b24_oauth_tokens
 WHERE portal = $1 AND client_id = $2
   FOR UPDATE;

-- name: b24_oauth_store
-- Store a refreshed token pair (before anyone uses it: the old refresh token is spent).
-- $1 portal, $2 client_id, $3 access_token, $4 refresh_token, $5 access token expiry (timestamptz or NULL)
UPDATE b24_oauth_tokens
   SET access_token = $3, refresh_token = $4, expires_at = $5, updated_at = now()
 WHERE portal = $1 AND client_id = $2;
