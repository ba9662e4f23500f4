-- Referrals: people waiting for a bed, known only by a keyed hash of the referrer's
-- pseudonymous reference. Needs are the least placement requires; `abri purge` nulls
-- them (and the reference) once a referral has ended, keeping the row for counts.
CREATE TABLE referrals (
    id                      uuid PRIMARY KEY DEFAULT uuidv7(),
    organisation_id         uuid NOT NULL REFERENCES organisations,   -- the referrer's
    reference_hmac          bytea,
    source                  text NOT NULL CHECK (source IN
                                ('outreach_team', 'hospital', 'court_ordered_treatment', 'self_referral', 'other')),
    status                  text NOT NULL DEFAULT 'waiting' CHECK (status IN
                                ('waiting', 'held', 'placed', 'exited', 'withdrawn')),
    -- needs
    gender                  text CHECK (gender IN ('woman', 'man', 'other')),
    accessible              boolean,
    dogs                    boolean,
    couple_partner_id       uuid REFERENCES referrals,
    medical_level           smallint CHECK (medical_level BETWEEN 0 AND 3),
    acceptable_kinds        text[] CHECK (cardinality(acceptable_kinds) >= 1),
    consents_out_of_region  boolean,
    excluded_facility_ids   uuid[],
    keep_apart_ids          uuid[],
    care_anchor_lat         double precision CHECK (care_anchor_lat BETWEEN -90 AND 90),
    care_anchor_lon         double precision CHECK (care_anchor_lon BETWEEN -180 AND 180),
    -- priority inputs
    vulnerability           smallint CHECK (vulnerability BETWEEN 1 AND 5),
    court_ordered           boolean,
    first_met_on            date,
    ended_at                timestamptz,     -- when it became exited or withdrawn
    purged_at               timestamptz,
    version                 integer NOT NULL DEFAULT 1,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    -- Until purged, every need and the reference are present.
    CHECK (purged_at IS NOT NULL OR (
        reference_hmac IS NOT NULL AND gender IS NOT NULL AND accessible IS NOT NULL AND dogs IS NOT NULL
        AND medical_level IS NOT NULL AND acceptable_kinds IS NOT NULL AND consents_out_of_region IS NOT NULL
        AND excluded_facility_ids IS NOT NULL AND keep_apart_ids IS NOT NULL AND vulnerability IS NOT NULL
        AND court_ordered IS NOT NULL)),
    CHECK ((status IN ('exited', 'withdrawn')) = (ended_at IS NOT NULL)),
    CHECK (purged_at IS NULL OR ended_at IS NOT NULL),
    CHECK ((care_anchor_lat IS NULL) = (care_anchor_lon IS NULL))
);
-- One active referral per person (same keyed reference).
CREATE UNIQUE INDEX referrals_one_active_per_person ON referrals (reference_hmac)
    WHERE status IN ('waiting', 'held', 'placed');
CREATE INDEX referrals_status_idx ON referrals (status, id);
CREATE INDEX referrals_organisation_idx ON referrals (organisation_id, id);

-- Holds and stays belong to a referral. Their lifecycle columns: a hold's period ends
-- at its expiry (so an expired hold stops blocking the bed with no job running); a
-- stay's period ends at exit, no-show or transfer.
ALTER TABLE holds
    ADD COLUMN referral_id uuid NOT NULL REFERENCES referrals,
    ADD COLUMN status text NOT NULL DEFAULT 'active'
        CHECK (status IN ('active', 'confirmed', 'cancelled', 'expired')),
    ADD COLUMN cancel_reason text CHECK (cancel_reason IN
        ('declined_by_person', 'declined_by_facility', 'bed_unavailable', 'referral_withdrawn', 'superseded', 'other')),
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX holds_referral_idx ON holds (referral_id);
CREATE INDEX holds_active_expiry_idx ON holds (upper(period)) WHERE status = 'active';

ALTER TABLE stays
    ADD COLUMN referral_id uuid NOT NULL REFERENCES referrals,
    ADD COLUMN hold_id uuid REFERENCES holds,
    ADD COLUMN transferred_from uuid REFERENCES stays,
    ADD COLUMN checked_in_at timestamptz,
    ADD COLUMN ended_as text CHECK (ended_as IN ('no_show', 'transfer', 'exit')),
    ADD COLUMN exit_reason text CHECK (exit_reason IN
        ('therapeutic_community', 'cure_or_post_cure', 'independent_housing', 'hospital', 'prison',
         'exclusion', 'left_on_own_accord', 'death', 'other')),
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now(),
    ADD CHECK ((ended_as = 'exit') = (exit_reason IS NOT NULL));
CREATE INDEX stays_referral_idx ON stays (referral_id);
