-- name: reconcile_links
-- Every link to a Bitrix24 record of these types, with what was pushed last (b24bridge reconcile).
-- $1 b24_types text[]
SELECT source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state, pushing_since, pushing_state
  FROM entity_links
 WHERE b24_type = ANY($1::text[])
 ORDER BY b24_type, b24_id

-- name: reconcile_mark_in_doubt
-- Before a repair re-pushes a record: its pushed state is not what Bitrix24 holds, so the push sends the
-- full desired state (as after a push that died half-way); the push's own commit clears the mark.
-- A link already in doubt keeps what its failed push may have written (each section of the old pending
-- state merged with the new one): the re-push still clears or deletes what only that push had sent.
-- $1 source, $2 onec_type, $3 onec_id, $4 b24_type, $5 pushing_state jsonb (the fields pushed last)
UPDATE entity_links
   SET pushing_since = now(),
       pushing_state = CASE
           WHEN pushing_since IS NULL OR jsonb_typeof(pushing_state) IS DISTINCT FROM 'object' THEN $5::jsonb
           ELSE pushing_state || coalesce((
               SELECT jsonb_object_agg(e.key, CASE
                          WHEN jsonb_typeof(e.value) = 'object' AND jsonb_typeof(pushing_state -> e.key) = 'object'
                          THEN (pushing_state -> e.key) || e.value ELSE e.value END)
                 FROM jsonb_each($5::jsonb) AS e), '{}'::jsonb)
       END
 WHERE source = $1 AND onec_type = $2 AND onec_id = $3 AND b24_type = $4

-- name: reconcile_latest_event
-- The newest stored event of one 1C object (what a repair hands its consumer again).
-- $1 source, $2 entity text, $3 entity_id uuid
SELECT body::text AS body FROM outbox
 WHERE source = $1 AND entity = $2 AND entity_id = $3::uuid
 ORDER BY version DESC, id DESC
 LIMIT 1
