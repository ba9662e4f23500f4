-- Proposals: the solver's assignment of waiting referrals to free beds, each line backed
-- by a hold until a placement officer accepts (the hold becomes a stay) or declines it.
CREATE TABLE proposals (
    id                  uuid PRIMARY KEY DEFAULT uuidv7(),
    key_id              uuid NOT NULL REFERENCES api_keys,       -- who asked
    organisation_id     uuid NOT NULL REFERENCES organisations,
    at                  timestamptz NOT NULL,    -- the moment the problem describes
    holds_expire_at     timestamptz NOT NULL,    -- when the lines' holds end unless accepted
    hold_minutes        integer NOT NULL CHECK (hold_minutes BETWEEN 5 AND 2880),
    include_declined    boolean NOT NULL,
    referrals_listed    integer CHECK (referrals_listed >= 1),   -- NULL: every waiting referral
    people              integer NOT NULL CHECK (people >= 0),    -- in the problem, partners added
    parameters          jsonb NOT NULL,
    statistics          jsonb NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (holds_expire_at > at)
);

-- One line per person the plan placed, in priority order. `status` is the decision; a
-- 'proposed' line whose hold has since ended reads as that hold says (expired, or
-- confirmed or cancelled through /v1/holds).
CREATE TABLE proposal_lines (
    id              uuid PRIMARY KEY DEFAULT uuidv7(),
    proposal_id     uuid NOT NULL REFERENCES proposals,
    position        integer NOT NULL CHECK (position >= 0),
    referral_id     uuid NOT NULL REFERENCES referrals,
    -- What was proposed, as it was then: the facility, its name and kind, the bed. The
    -- hold references the bed (and so the facility); no second foreign-key check per line.
    facility_id     uuid NOT NULL,
    facility_name   text NOT NULL,
    kind            text NOT NULL,
    bed_id          uuid,
    hold_id         uuid UNIQUE REFERENCES holds,
    stay_id         uuid UNIQUE REFERENCES stays,
    distance_km     double precision CHECK (distance_km >= 0),
    nearest_site    text,
    priority_score  integer NOT NULL,
    distance_score  integer NOT NULL,
    care_score      integer NOT NULL,
    cost_score      integer NOT NULL,
    status          text NOT NULL CHECK (status IN ('proposed', 'accepted', 'declined', 'dropped')),
    reason          text CHECK (reason IN
                        ('bed_taken', 'referral_not_waiting', 'partner_dropped', 'keep_apart',
                         'declined_by_person', 'declined_by_facility', 'unsuitable', 'other')),
    decided_at      timestamptz,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (proposal_id, position),
    -- A dropped line never held a bed; every other line did.
    CHECK ((status = 'dropped') = (bed_id IS NULL) AND (status = 'dropped') = (hold_id IS NULL)),
    CHECK ((status IN ('dropped', 'declined')) = (reason IS NOT NULL)),
    CHECK ((status = 'accepted') = (stay_id IS NOT NULL)),
    CHECK ((status = 'proposed') = (decided_at IS NULL))
);

-- The people a plan left unplaced, and why. The explanation names needs, so purge deletes it.
CREATE TABLE proposal_unplaced (
    proposal_id     uuid NOT NULL REFERENCES proposals,
    referral_id     uuid NOT NULL REFERENCES referrals,
    reason          text NOT NULL CHECK (reason IN
                        ('no_eligible_bed', 'outranked', 'couple_not_placed_together', 'keep_apart')),
    explanation     text NOT NULL,
    free_beds       integer NOT NULL CHECK (free_beds >= 0),
    beds_removed    jsonb NOT NULL,          -- [{"rule": ..., "beds": n}, ...] in the order rules apply
    eligible_beds   integer NOT NULL CHECK (eligible_beds >= 0),
    PRIMARY KEY (proposal_id, referral_id)
);
CREATE INDEX proposal_unplaced_referral_idx ON proposal_unplaced (referral_id);

-- A declined (referral, facility) pair is not proposed again unless a request asks to.
CREATE TABLE proposal_declines (
    referral_id     uuid NOT NULL REFERENCES referrals,
    facility_id     uuid NOT NULL REFERENCES facilities,
    line_id         uuid NOT NULL REFERENCES proposal_lines,   -- the latest decline of the pair
    declined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (referral_id, facility_id)
);

-- Finds the stay a hold became, for lines confirmed through /v1/holds.
CREATE INDEX stays_hold_idx ON stays (hold_id) WHERE hold_id IS NOT NULL;

-- Proposal lines as they stand now: a 'proposed' line reads as its hold says once the
-- hold has ended (run out: expired; confirmed or cancelled through /v1/holds or by a
-- withdrawal: accepted or declined with the hold's reason). The minimum distance the
-- proposal required of the line's kind comes along for the line's explanation.
CREATE VIEW proposal_lines_now AS
SELECT l.id, l.proposal_id, l.position, l.referral_id, l.facility_id, l.facility_name, l.kind, l.bed_id, l.hold_id,
       upper(h.period) AS hold_expires_at,
       coalesce(l.stay_id, s.id) AS stay_id,
       l.distance_km, l.nearest_site, l.priority_score, l.distance_score, l.care_score, l.cost_score,
       (p.parameters -> 'min_distance_km' ->> l.kind)::float8 AS min_distance_km,
       CASE
           WHEN l.status <> 'proposed' THEN l.status
           WHEN h.status = 'active' AND upper(h.period) > now() THEN 'proposed'
           WHEN h.status IN ('active', 'expired') THEN 'expired'
           WHEN h.status = 'confirmed' THEN 'accepted'
           ELSE 'declined'
       END AS status,
       CASE WHEN l.status = 'proposed' AND h.status = 'cancelled' THEN h.cancel_reason ELSE l.reason END AS reason,
       CASE
           WHEN l.status = 'proposed' AND NOT (h.status = 'active' AND upper(h.period) > now()) THEN upper(h.period)
           ELSE l.decided_at
       END AS decided_at,
       l.version
FROM proposal_lines l
JOIN proposals p ON p.id = l.proposal_id
LEFT JOIN holds h ON h.id = l.hold_id
LEFT JOIN stays s ON s.hold_id = l.hold_id AND l.stay_id IS NULL;
