-- name: heartbeat_store
-- Keep a 1C sender's latest heartbeat (one row per source; a newer one replaces it).
-- $1 source, $2 module_version, $3 platform_version, $4 pending int, $5 oldest_pending_seconds bigint,
-- $6 rejected int.  Returns received_at (the bridge's clock).
INSERT INTO source_heartbeats (source, received_at, module_version, platform_version, pending,
                               oldest_pending_seconds, rejected)
VALUES ($1, now(), $2, $3, $4, $5, $6)
    ON CONFLICT (source) DO UPDATE
   SET received_at = EXCLUDED.received_at, module_version = EXCLUDED.module_version,
       platform_version = EXCLUDED.platform_version, pending = EXCLUDED.pending,
       oldest_pending_seconds = EXCLUDED.oldest_pending_seconds, rejected = EXCLUDED.rejected
RETURNING received_at

-- name: heartbeat_latest
-- The latest heartbeat of every source, by source.  No parameters.
SELECT source, received_at, module_version, platform_version, pending, oldest_pending_seconds, rejected
  FROM source_heartbeats
 ORDER BY source

-- name: heartbeat_forget
-- Forget a 1C base that no longer sends (its metrics and silence alerts go with it).
-- $1 source.  Returns the source when a row was deleted.
DELETE FROM source_heartbeats WHERE source = $1 RETURNING source
