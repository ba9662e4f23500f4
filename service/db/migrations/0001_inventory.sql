-- Inventory: organisations, facilities, beds and their out-of-service periods,
-- consumption sites, API keys; holds and stays as the bed-occupancy primitives.
CREATE EXTENSION IF NOT EXISTS btree_gist;

-- Great-circle distance in km (haversine, mean Earth radius), for NOT NULL coordinates
-- (every lat/lon column is NOT NULL; least() would turn a NULL into the antipode).
-- Not STRICT, so the planner inlines it: 5x faster than a call. Differences under 1e-9
-- degree (0.1 mm) count as 0, because PostgreSQL raises "underflow" rather than return 0
-- when squaring, say, 1e-200; least() keeps rounding at antipodes inside asin's domain.
CREATE FUNCTION km_between(lat1 double precision, lon1 double precision,
                           lat2 double precision, lon2 double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN 2 * 6371.0088 * asin(least(1, sqrt(
    sin(radians(CASE WHEN abs(lat2 - lat1) < 1e-9 THEN 0 ELSE lat2 - lat1 END) / 2) ^ 2
    + cos(radians(lat1)) * cos(radians(lat2))
      * sin(radians(CASE WHEN abs(lon2 - lon1) < 1e-9 THEN 0 ELSE lon2 - lon1 END) / 2) ^ 2
)));

CREATE TABLE organisations (
    id          uuid PRIMARY KEY DEFAULT uuidv7(),
    name        text NOT NULL UNIQUE,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Kinds of capacity are data: adding one is an INSERT in a migration.
CREATE TABLE facility_kinds (
    code        text PRIMARY KEY,
    label       text NOT NULL
);
INSERT INTO facility_kinds (code, label) VALUES
    ('assore_hotel', 'ASSORE hotel rooms'),
    ('specialised_unit', 'Specialised housing unit'),
    ('rest_space', 'Rest space'),
    ('out_of_region', 'Out-of-region placement');

CREATE TABLE facilities (
    id              uuid PRIMARY KEY DEFAULT uuidv7(),
    organisation_id uuid NOT NULL REFERENCES organisations,
    kind            text NOT NULL REFERENCES facility_kinds,
    name            text NOT NULL,
    address         text NOT NULL,
    postcode        text,
    commune         text NOT NULL,
    arrondissement  smallint CHECK (arrondissement BETWEEN 1 AND 20),
    department      text NOT NULL,
    region          text NOT NULL,
    lat             double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon             double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    opened_on       date NOT NULL,
    closed_on       date,
    version         integer NOT NULL DEFAULT 1,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (closed_on IS NULL OR closed_on > opened_on)
);
CREATE INDEX facilities_organisation_idx ON facilities (organisation_id);
CREATE INDEX facilities_kind_idx ON facilities (kind);

CREATE TABLE beds (
    id                  uuid PRIMARY KEY DEFAULT uuidv7(),
    facility_id         uuid NOT NULL REFERENCES facilities,
    label               text NOT NULL,
    gender_policy       text NOT NULL CHECK (gender_policy IN ('any', 'women', 'men')),
    accessible          boolean NOT NULL DEFAULT false,
    couple_room         boolean NOT NULL DEFAULT false,
    dogs_allowed        boolean NOT NULL DEFAULT false,
    medical_level       smallint NOT NULL DEFAULT 0 CHECK (medical_level BETWEEN 0 AND 3),
    nightly_cost_cents  integer NOT NULL DEFAULT 0 CHECK (nightly_cost_cents >= 0),
    version             integer NOT NULL DEFAULT 1,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (facility_id, label)
);
-- The UNIQUE index (facility_id, label) serves per-facility listing; this one
-- serves the availability scan, which walks each facility's beds by id.
CREATE INDEX beds_facility_id_idx ON beds (facility_id, id);

CREATE TABLE bed_unavailability (
    id          uuid PRIMARY KEY DEFAULT uuidv7(),
    bed_id      uuid NOT NULL REFERENCES beds,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz CHECK (ends_at > starts_at),
    period      tstzrange NOT NULL GENERATED ALWAYS AS (tstzrange(starts_at, ends_at)) STORED,
    reason      text NOT NULL CHECK (reason IN
                    ('maintenance', 'damage', 'cleaning', 'pest_control', 'safety', 'staffing', 'other')),
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    EXCLUDE USING gist (bed_id WITH =, period WITH &&)
);

-- Holds and stays: the database itself makes double booking impossible.
-- Their lifecycle (referrals, expiry, check-in, exit) arrives with the referrals API.
CREATE TABLE holds (
    id          uuid PRIMARY KEY DEFAULT uuidv7(),
    bed_id      uuid NOT NULL REFERENCES beds,
    period      tstzrange NOT NULL CHECK (NOT isempty(period) AND lower(period) IS NOT NULL),
    created_at  timestamptz NOT NULL DEFAULT now(),
    EXCLUDE USING gist (bed_id WITH =, period WITH &&)
);

CREATE TABLE stays (
    id          uuid PRIMARY KEY DEFAULT uuidv7(),
    bed_id      uuid NOT NULL REFERENCES beds,
    period      tstzrange NOT NULL CHECK (NOT isempty(period) AND lower(period) IS NOT NULL),
    created_at  timestamptz NOT NULL DEFAULT now(),
    EXCLUDE USING gist (bed_id WITH =, period WITH &&)
);

CREATE TABLE consumption_sites (
    id          uuid PRIMARY KEY DEFAULT uuidv7(),
    name        text NOT NULL UNIQUE,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         double precision NOT NULL CHECK (lon BETWEEN -180 AND 180),
    radius_m    integer NOT NULL DEFAULT 200 CHECK (radius_m BETWEEN 0 AND 5000),
    intensity   smallint NOT NULL CHECK (intensity BETWEEN 1 AND 5),
    active_from  timestamptz NOT NULL,
    active_until timestamptz CHECK (active_until > active_from),
    active      tstzrange NOT NULL GENERATED ALWAYS AS (tstzrange(active_from, active_until)) STORED,
    version     integer NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id              uuid PRIMARY KEY DEFAULT uuidv7(),
    secret_sha256   bytea NOT NULL,
    role            text NOT NULL CHECK (role IN
                        ('admin', 'placement_officer', 'partner', 'referrer', 'manager')),
    organisation_id uuid NOT NULL REFERENCES organisations,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
