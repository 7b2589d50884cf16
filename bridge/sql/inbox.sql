-- name: inbox_seen
-- Has this consumer already applied this event?
-- $1 consumer text, $2 event_id uuid
SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2::uuid)

-- name: inbox_add
-- Record an applied event, in the same transaction as its effect.
-- $1 consumer text, $2 event_id uuid
INSERT INTO inbox (consumer, event_id) VALUES ($1, $2::uuid) ON CONFLICT DO NOTHING

-- name: inbox_purge
-- Forget events applied before $1 (the links' versions keep protecting against stale replays).
-- $1 processed_before timestamptz
DELETE FROM inbox WHERE processed_at < $1
