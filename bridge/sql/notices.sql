-- name: incident_select
-- Every stored incident (bridge.notices: the watcher plans against them).  No parameters.
SELECT kind, subject, opened_at, notified_at, cleared_at FROM notice_incidents ORDER BY kind, subject

-- name: incident_open
-- Open an incident; only the first of several watchers gets a row back (and sends the notice).
-- $1 kind, $2 subject, $3 detail
INSERT INTO notice_incidents (kind, subject, detail) VALUES ($1, $2, $3)
    ON CONFLICT (kind, subject) DO NOTHING
RETURNING kind

-- name: incident_claim_notice
-- Claim the (re)sending of an open incident's opening notice; no row: another watcher has it or it went.
-- $1 kind, $2 subject
UPDATE notice_incidents SET notified_at = now()
 WHERE kind = $1 AND subject = $2 AND notified_at IS NULL AND cleared_at IS NULL
RETURNING kind

-- name: incident_unclaim_notice
-- The opening notice did not reach Bitrix24: let the next round try again.  $1 kind, $2 subject
UPDATE notice_incidents SET notified_at = NULL WHERE kind = $1 AND subject = $2

-- name: incident_clear
-- Mark an incident cleared; only the first watcher gets a row back (and sends the recovery notice).
-- $1 kind, $2 subject
UPDATE notice_incidents SET cleared_at = now()
 WHERE kind = $1 AND subject = $2 AND cleared_at IS NULL
RETURNING kind

-- name: incident_reopen
-- The trouble came back before the recovery notice went: the incident goes on.  $1 kind, $2 subject
UPDATE notice_incidents SET cleared_at = NULL WHERE kind = $1 AND subject = $2

-- name: incident_forget
-- The recovery notice went (or nobody was ever told): forget the incident.  $1 kind, $2 subject
DELETE FROM notice_incidents WHERE kind = $1 AND subject = $2
