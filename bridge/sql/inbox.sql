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

-- name: inbox_seen_locking
-- inbox_seen, first waiting for the transaction-level lock on the 1C object the event is about (a work that
-- needs it only for its first transaction: a document's merge): held until that transaction ends, nothing
-- written.  The inbox is read in the snapshot taken before any wait, so after a wait it may miss a
-- concurrent delivery's row: the handler then merely redoes idempotent work.  Class 71 keeps these locks
-- apart from any other advisory lock.
-- $1 consumer text, $2 event_id uuid, $3 key text (source/type/id)
SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $1 AND event_id = $2::uuid)
  FROM (SELECT pg_advisory_xact_lock(71, hashtext($3::text))) AS locked
