-- name: link_lock
-- Serialise work on one 1C object across consumers and replicas until the transaction ends.
-- $1 key text (source/type/id)
SELECT pg_advisory_xact_lock(hashtextextended($1, 0))

-- name: key_lock
-- Serialise the first contact with one Bitrix24 key across sources (two 1C bases, one product id) until
-- the transaction ends.  Always taken after the per-object link_lock, never before: no lock cycle.
-- $1 key text
SELECT pg_advisory_xact_lock(hashtextextended($1, 1))

-- name: links_to_b24_elsewhere
-- Which of these Bitrix24 objects a link of another source points to.
-- $1 b24_type text, $2 b24_ids bigint[], $3 source text (this one)
SELECT DISTINCT b24_id FROM entity_links
 WHERE b24_type = $1 AND b24_id = ANY($2::bigint[]) AND source <> $3

-- name: links_for
-- Every Bitrix24 object linked to a 1C object.
-- $1 source text, $2 onec_type text, $3 onec_id text
SELECT source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state, pushing_since, pushing_state
  FROM entity_links
 WHERE source = $1 AND onec_type = $2 AND onec_id = $3

-- name: links_for_many
-- Links of several 1C objects of one type (e.g. all contact persons of a counterparty).
-- $1 source text, $2 onec_type text, $3 onec_ids text[]
SELECT source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state, pushing_since, pushing_state
  FROM entity_links
 WHERE source = $1 AND onec_type = $2 AND onec_id = ANY($3::text[])

-- name: link_upsert
-- Create or move a link, recording the version applied and what was pushed.
-- $1 source, $2 onec_type, $3 onec_id, $4 b24_type, $5 b24_id bigint, $6 version bigint,
-- $7 state_hash text, $8 pushed_state jsonb
INSERT INTO entity_links (source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT (source, onec_type, onec_id, b24_type) DO UPDATE
   SET b24_id = EXCLUDED.b24_id, version = EXCLUDED.version, state_hash = EXCLUDED.state_hash,
       pushed_state = EXCLUDED.pushed_state, pushing_since = NULL, pushing_state = NULL, updated_at = now()

-- name: link_push_begin
-- Before a push's first Bitrix24 write, in its own transaction: until the push commits (link_upsert clears
-- it) the pushed state is in doubt, so a push that dies half-way is not diffed against afterwards.
-- $1 source, $2 onec_type, $3 onec_id, $4 b24_type, $5 pushing_state jsonb (what the push means to write)
UPDATE entity_links SET pushing_since = now(), pushing_state = $5
 WHERE source = $1 AND onec_type = $2 AND onec_id = $3 AND b24_type = $4

-- name: link_delete
-- Forget a link whose Bitrix24 object was removed on purpose (e.g. a bank account deleted in 1C).
-- $1 source, $2 onec_type, $3 onec_id, $4 b24_type
DELETE FROM entity_links WHERE source = $1 AND onec_type = $2 AND onec_id = $3 AND b24_type = $4
