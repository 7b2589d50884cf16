-- name: projection_merge
-- Merge one document snapshot and say which orders its event must recompute, in one round trip.
-- Newer than the stored version (or the first): store it, replace the orders it touches, and remember in
-- order_resync every order it touched before or touches now until each deal is recomputed.  Older or
-- equal: only remember that the document was posted.  Every part reads the state before the statement, so
-- the answer is the orders it touched before, those still waiting, and (when newer) those it touches now;
-- and the orders whose waiting row names the event after it (rows written now, and those an earlier
-- delivery merged and nobody settled yet): whoever settles such a row records the event applied, so the
-- event may leave only those to a push it hands over to, and records itself otherwise.
-- $1 source, $2 doc_type, $3 doc_id uuid, $4 version bigint, $5 snapshot jsonb, $6 posted boolean,
-- $7 order_ids uuid[] it touches now, $8 amounts numeric[], $9 event_id uuid, $10 received_at timestamptz
-- (the event's, written on its resync rows: whoever settles them records it applied)
-- The caller holds the document (a lock) so merges of one document do not overlap; should two overlap all
-- the same, the later one notices — its row was written after its snapshot began (locked at a newer
-- version, or inserted by the other): it writes nothing and answers `retry`, and the caller runs it again
-- (it holds the row lock by then, so the second run is not disturbed).
WITH seen AS (
    SELECT version FROM order_documents
     WHERE source = $1::text AND doc_type = $2::text AND doc_id = $3::uuid
), current AS (
    SELECT version FROM order_documents
     WHERE source = $1::text AND doc_type = $2::text AND doc_id = $3::uuid
       FOR UPDATE
), decided AS (
    SELECT NOT EXISTS (SELECT 1 FROM current WHERE version >= $4::bigint) AS newer,
           (SELECT version FROM current) IS DISTINCT FROM (SELECT version FROM seen) AS moved
), touched_before AS (
    SELECT order_id FROM order_document_links WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid
), waiting AS (
    SELECT order_id, $9::uuid = ANY (event_ids) AS listed
      FROM order_resync WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid
), touches AS (
    SELECT o AS order_id, a AS amount FROM unnest($7::uuid[], $8::numeric[]) AS u(o, a)
), marked AS (
    UPDATE order_documents SET ever_posted = true
     WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid AND $6::boolean AND NOT ever_posted
       AND NOT (SELECT newer FROM decided) AND NOT (SELECT moved FROM decided)
), stored AS (
    INSERT INTO order_documents (source, doc_type, doc_id, version, snapshot, ever_posted)
    SELECT $1, $2, $3::uuid, $4, $5::jsonb, $6 FROM decided WHERE newer AND NOT moved
        ON CONFLICT (source, doc_type, doc_id) DO UPDATE
       SET version = EXCLUDED.version, snapshot = EXCLUDED.snapshot,
           ever_posted = order_documents.ever_posted OR EXCLUDED.ever_posted, updated_at = now()
     WHERE EXISTS (SELECT 1 FROM seen)  -- a row the snapshot did not show: another merge inserted it
    RETURNING 1
), unlinked AS (
    DELETE FROM order_document_links
     WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid AND order_id <> ALL ($7::uuid[])
       AND EXISTS (SELECT 1 FROM stored)
), linked AS (
    INSERT INTO order_document_links (source, doc_type, doc_id, order_id, amount)
    SELECT $1, $2, $3::uuid, order_id, amount FROM touches WHERE EXISTS (SELECT 1 FROM stored)
        ON CONFLICT (source, doc_type, doc_id, order_id) DO UPDATE SET amount = EXCLUDED.amount
), resync AS (
    INSERT INTO order_resync (source, doc_type, doc_id, order_id, event_ids, received_at)
    SELECT $1, $2, $3::uuid, order_id, array_remove(ARRAY[$9::uuid], NULL), $10::timestamptz
      FROM (SELECT order_id FROM touched_before UNION SELECT order_id FROM touches) AS t
     WHERE EXISTS (SELECT 1 FROM stored)
        ON CONFLICT (source, doc_type, doc_id, order_id) DO UPDATE
       SET written_at = now(), event_ids = order_resync.event_ids || EXCLUDED.event_ids,
           received_at = least(order_resync.received_at, EXCLUDED.received_at)
        -- a row still waiting is written again (a new xmin): a recompute that read the older one settles
        -- only that one, never this newer merge's
)
SELECT d.newer, ARRAY(
           SELECT DISTINCT order_id::text FROM (
               SELECT order_id FROM touched_before
                UNION ALL SELECT order_id FROM waiting
                UNION ALL SELECT order_id FROM touches WHERE d.newer) AS t) AS affected,
       ARRAY(
           SELECT DISTINCT order_id::text FROM (
               SELECT order_id FROM waiting WHERE listed
                UNION ALL SELECT order_id FROM touched_before WHERE EXISTS (SELECT 1 FROM stored)
                UNION ALL SELECT order_id FROM touches WHERE EXISTS (SELECT 1 FROM stored)) AS t) AS named,
       d.moved OR (d.newer AND NOT EXISTS (SELECT 1 FROM stored)) AS retry
  FROM decided AS d

-- name: projection_links_of
-- The orders a document touches now.
-- $1 source, $2 doc_type, $3 doc_id uuid
SELECT order_id::text AS order_id, amount FROM order_document_links
 WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid

-- name: projection_order_facts
-- Everything known about one order: its own snapshot and every document touching it (resync false), and
-- its order_resync rows (resync true, with the row version xmin as stamp) in the same snapshot:
-- recomputing from these facts settles exactly those row versions, not a row a document merged after this
-- read inserted or wrote again.
-- $1 source, $2 order_id uuid
SELECT false AS resync, d.doc_type, d.doc_id::text AS doc_id, d.version, d.snapshot, d.ever_posted, l.amount,
       NULL::text AS stamp
  FROM order_document_links l
  JOIN order_documents d ON d.source = l.source AND d.doc_type = l.doc_type AND d.doc_id = l.doc_id
 WHERE l.source = $1 AND l.order_id = $2::uuid
UNION ALL
SELECT true, r.doc_type, r.doc_id::text, NULL, NULL, NULL, NULL, r.xmin::text
  FROM order_resync r
 WHERE r.source = $1 AND r.order_id = $2::uuid
 ORDER BY 1, 2, 3

-- name: projection_resync_of
-- Orders a document touched that still wait for their deal to be recomputed.
-- $1 source, $2 doc_type, $3 doc_id uuid
SELECT order_id::text AS order_id FROM order_resync WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid

-- name: projection_names_event
-- Does a waiting order_resync row of the document still name the event?  (An event recorded applied by the
-- push it handed an order over to may still have an order it failed on: its retry is not a duplicate.)
-- $1 source, $2 doc_type, $3 doc_id uuid, $4 event_id uuid
SELECT EXISTS (SELECT 1 FROM order_resync
                WHERE source = $1 AND doc_type = $2 AND doc_id = $3::uuid AND $4::uuid = ANY (event_ids))

-- name: projection_resync_overdue
-- Orders whose facts have waited for their deal longer than $1 seconds, oldest first (the deal consumers'
-- sweep: the push a document handed its recompute to died, or the event that would recompute them
-- failed and waits).
-- $1 seconds float8, $2 limit int, $3 orders to leave out now (source/order/id: failing, tried later) text[]
SELECT source, order_id::text AS order_id FROM order_resync
 WHERE written_at < now() - make_interval(secs => $1)
   AND source || '/order/' || order_id::text <> ALL ($3::text[])
 GROUP BY source, order_id
 ORDER BY min(written_at)
 LIMIT $2
