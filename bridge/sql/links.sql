-- name: lease_claim
-- Take the lease on one 1C object (or shared Bitrix24 key) for a consumer, unless another live consumer
-- holds it: a row nobody holds, one whose holder died (expired), or this process's own (left by a task
-- that was cancelled; the process's in-memory lock says no task of it holds the key now).  Returns a row
-- when taken, none when busy (the busy row stays locked until the caller's transaction ends, so its holder
-- cannot give it back meanwhile: see lease_hand_over).  Waits only for another claimer's uncommitted
-- short transaction.  A hand-over to an earlier holder is void: the new holder reads the facts after this.
-- $1 key text (source/type/id), $2 holder text, $3 ttl seconds float8
INSERT INTO object_leases AS l (key, holder, expires_at)
VALUES ($1, $2, now() + make_interval(secs => $3))
    ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at, handed_over = false
 WHERE l.expires_at < now() OR l.holder = EXCLUDED.holder
RETURNING true AS taken

-- name: lease_hand_over
-- Ask the consumer holding a lease to do the caller's work on that object when it gives the lease back
-- (the caller's facts are committed with this, or before it).  A row when the holder will see the request
-- (its release returns handed_over), none when the lease is free or expired by now: then claim it instead.
-- $1 key text, $2 holder text (the caller's: never its own row)
UPDATE object_leases SET handed_over = true
 WHERE key = $1 AND holder <> $2 AND expires_at >= now()
RETURNING true AS handed

-- name: lease_release
-- Give back the leases a unit of work held (its last transaction).
-- $1 keys text[], $2 holder text
-- Rows are locked in key order, as everywhere leases are locked (see uow_finish).
DELETE FROM object_leases l
 USING (SELECT key FROM object_leases WHERE key = ANY ($1::text[]) AND holder = $2 ORDER BY key FOR UPDATE) AS k
 WHERE l.key = k.key AND l.holder = $2

-- name: lease_renew
-- Keep the leases of pushes still running alive.
-- $1 keys text[], $2 holder text, $3 ttl seconds float8
-- A row locked by someone else (a push giving it back, another consumer's claim or hand-over) is skipped,
-- not waited for: the renewal never takes part in a deadlock.  Answers the keys renewed: the caller tries
-- the skipped ones again shortly (Leases.renew).  The others are locked in key order.
UPDATE object_leases l SET expires_at = now() + make_interval(secs => $3)
  FROM (SELECT key FROM object_leases WHERE key = ANY ($1::text[]) AND holder = $2
         ORDER BY key FOR UPDATE SKIP LOCKED) AS k
 WHERE l.key = k.key
RETURNING l.key

-- name: links_to_b24_elsewhere
-- Which of these Bitrix24 objects a link of another source points to.
-- $1 b24_type text, $2 b24_ids bigint[], $3 source text (this one)
SELECT DISTINCT l.b24_id FROM unnest($2::bigint[]) AS k(b24_id)
  JOIN entity_links l ON l.b24_type = $1 AND l.b24_id = k.b24_id
 WHERE l.source <> $3

-- name: links_for
-- Every Bitrix24 object linked to a 1C object.
-- $1 source text, $2 onec_type text, $3 onec_id text
SELECT source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state, pushing_since, pushing_state
  FROM entity_links
 WHERE source = $1 AND onec_type = $2 AND onec_id = $3

-- name: links_for_seen
-- inbox_seen and links_for in one round trip (a snapshot handler under its object's lease: nothing it reads
-- can change between two statements).  One row per link, or one row of NULL link columns when there is none.
-- $1 source text, $2 onec_type text, $3 onec_id text, $4 consumer text, $5 event_id uuid
SELECT EXISTS (SELECT 1 FROM inbox WHERE consumer = $4 AND event_id = $5::uuid) AS seen,
       l.source, l.onec_type, l.onec_id, l.b24_type, l.b24_id, l.version, l.state_hash, l.pushed_state,
       l.pushing_since, l.pushing_state
  FROM (SELECT 1) AS one
  LEFT JOIN entity_links l ON l.source = $1 AND l.onec_type = $2 AND l.onec_id = $3

-- name: links_for_many
-- Links of several 1C objects, of one type or several (all contact persons of a counterparty; an order,
-- its counterparty, contact person and products in one round trip).  A join on the unnested pairs, not
-- ``= ANY($3)``: a generic plan applied the array as a filter over every link of the type (1,395 rows read
-- to find 5); the join probes the primary key once per pair whatever the plan.
-- $1 source text, $2 onec_types text[], $3 onec_ids text[] (pairwise)
SELECT l.source, l.onec_type, l.onec_id, l.b24_type, l.b24_id, l.version, l.state_hash, l.pushed_state,
       l.pushing_since, l.pushing_state
  FROM unnest($2::text[], $3::text[]) AS k(onec_type, onec_id)
  JOIN entity_links l ON l.source = $1 AND l.onec_type = k.onec_type AND l.onec_id = k.onec_id

-- name: link_upsert_many
-- The links a unit of work saved while no connection was held, written in its last transaction (same
-- effect as link_upsert for each, in order).
-- $1 source, $2 onec_types text[], $3 onec_ids text[], $4 b24_types text[], $5 b24_ids bigint[],
-- $6 versions bigint[], $7 state_hashes text[], $8 pushed_states text[] (JSON texts; one link once)
INSERT INTO entity_links (source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state)
SELECT $1, t, i, bt, bi, v, h, p::jsonb FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[],
                                                    $6::bigint[], $7::text[], $8::text[]) AS u(t, i, bt, bi, v, h, p)
    ON CONFLICT (source, onec_type, onec_id, b24_type) DO UPDATE
   SET b24_id = EXCLUDED.b24_id, version = EXCLUDED.version, state_hash = EXCLUDED.state_hash,
       pushed_state = EXCLUDED.pushed_state, pushing_since = NULL, pushing_state = NULL, updated_at = now()

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

-- name: link_delete_many
-- The links a unit of work dropped while no connection was held.
-- $1 source, $2 onec_types text[], $3 onec_ids text[], $4 b24_types text[]
DELETE FROM entity_links l USING unnest($2::text[], $3::text[], $4::text[]) AS k(t, i, bt)
 WHERE l.source = $1 AND l.onec_type = k.t AND l.onec_id = k.i AND l.b24_type = k.bt

-- name: link_delete
-- Forget a link whose Bitrix24 object was removed on purpose (e.g. a bank account deleted in 1C).
-- $1 source, $2 onec_type, $3 onec_id, $4 b24_type
DELETE FROM entity_links WHERE source = $1 AND onec_type = $2 AND onec_id = $3 AND b24_type = $4

-- name: uow_finish
-- A unit of work's last writes in one statement (one round trip, its own transaction when run alone):
-- the links it saved and dropped while no connection was held, its inbox rows, the orders whose deal it
-- recomputed (the order_resync rows their facts were read with), and its leases given back.  The events
-- that wrote the settled rows are applied now: their inbox rows are written here (an event that handed its
-- order over to this push is recorded applied by it).  Answers the leases another consumer handed work
-- over on (recompute those orders once more) and, per event recorded so, its entity and when the ingest
-- received it (its latency ends now).  The resync rows are settled before the leases go: a document
-- merging meanwhile locks its row, then claims the lease, in that order too.  A resync row a merge holds is
-- skipped, not waited for (its new version would stay anyway): run in the first transaction (nothing
-- pushed), this statement holds the order's lease row since the claim, and the merge claiming it next
-- deadlocked with a settling that waited.  The leases' rows are locked in key order, as the renewal and a
-- document's claims lock them: a product's own lease and its shared key's, released in the order they were
-- taken, deadlocked with the renewal during a first load.
-- $1 source, $2..$8 link upserts as in link_upsert_many, $9 drop onec_types text[], $10 drop onec_ids
-- text[], $11 drop b24_types text[], $12 consumer text, $13 event_ids uuid[], $14 lease keys text[],
-- $15 holder text, $16..$19 settled resync rows: doc_types text[], doc_ids uuid[], order_ids uuid[],
-- stamps text[] (each row's xmin as read with the facts: a row written again since stays), $20 the event
-- this unit of work handles uuid (null: none; it records itself, or comes back when it failed)
WITH upserted AS (
    INSERT INTO entity_links (source, onec_type, onec_id, b24_type, b24_id, version, state_hash, pushed_state)
    SELECT $1, t, i, bt, bi, v, h, p::jsonb FROM unnest($2::text[], $3::text[], $4::text[], $5::bigint[],
                                                        $6::bigint[], $7::text[], $8::text[]) AS u(t, i, bt, bi, v, h, p)
        ON CONFLICT (source, onec_type, onec_id, b24_type) DO UPDATE
       SET b24_id = EXCLUDED.b24_id, version = EXCLUDED.version, state_hash = EXCLUDED.state_hash,
           pushed_state = EXCLUDED.pushed_state, pushing_since = NULL, pushing_state = NULL, updated_at = now()
    RETURNING 1
), dropped AS (
    DELETE FROM entity_links l USING unnest($9::text[], $10::text[], $11::text[]) AS k(t, i, bt)
     WHERE l.source = $1 AND l.onec_type = k.t AND l.onec_id = k.i AND l.b24_type = k.bt
    RETURNING 1
), inboxed AS (
    INSERT INTO inbox (consumer, event_id) SELECT $12, e FROM unnest($13::uuid[]) AS e ON CONFLICT DO NOTHING
    RETURNING 1
), settling AS MATERIALIZED (
    SELECT r.doc_type, r.doc_id, r.order_id
      FROM order_resync r, unnest($16::text[], $17::uuid[], $18::uuid[], $19::text[]) AS k(t, d, o, x)
     WHERE r.source = $1 AND r.doc_type = k.t AND r.doc_id = k.d AND r.order_id = k.o AND r.xmin::text = k.x
       FOR UPDATE OF r SKIP LOCKED
), recomputed AS (
    DELETE FROM order_resync r USING settling k
     WHERE r.source = $1 AND r.doc_type = k.doc_type AND r.doc_id = k.doc_id AND r.order_id = k.order_id
    RETURNING r.doc_type, r.event_ids, r.received_at
), others AS (
    SELECT DISTINCT ON (e) r.doc_type, e AS event_id, r.received_at FROM recomputed r, unnest(r.event_ids) AS e
     WHERE e <> ALL ($13::uuid[]) AND e IS DISTINCT FROM $20::uuid
), recorded AS (
    INSERT INTO inbox (consumer, event_id) SELECT $12, event_id FROM others ON CONFLICT DO NOTHING
    RETURNING event_id
), applied AS (
    SELECT o.doc_type, o.received_at FROM recorded JOIN others o USING (event_id)
), releasing AS MATERIALIZED (
    SELECT key FROM object_leases WHERE key = ANY ($14::text[]) AND holder = $15 ORDER BY key FOR UPDATE
), released AS (
    DELETE FROM object_leases l USING releasing k WHERE l.key = k.key AND l.holder = $15
    RETURNING l.key, l.handed_over
)
SELECT (SELECT count(*) FROM upserted) + (SELECT count(*) FROM dropped) + (SELECT count(*) FROM inboxed) AS written,
       ARRAY(SELECT doc_type FROM applied WHERE received_at IS NOT NULL) AS settled_entities,
       ARRAY(SELECT extract(epoch FROM received_at)::float8 FROM applied WHERE received_at IS NOT NULL)
           AS settled_received_at,
       ARRAY(SELECT key FROM released WHERE handed_over) AS handed_back

-- name: object_lock_xact
-- Hold one 1C object until the transaction ends (see inbox_seen_locking, which takes the same lock).
-- $1 key text (source/type/id)
SELECT pg_advisory_xact_lock(71, hashtext($1::text))
