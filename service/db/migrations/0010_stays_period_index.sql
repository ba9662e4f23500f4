-- The stays in progress at a moment, by period alone, for the availability search's hash
-- anti-join at city scale. The exclusion constraint's GiST index leads with bed_id, so a
-- scan on period alone walks most of it: 1.3 ms for the 685 current stays of 5 simulated
-- years, 0.16 ms with this one; INCLUDE (bed_id) answers from the index alone. Holds and
-- out-of-service periods in force are few, and their exclusion indexes serve them well
-- enough; a period index on them tempted generic plans at 200,000 beds into rescanning it
-- per bed (bench/availability.py, case g: 54 → 85 ms).
CREATE INDEX stays_period_idx ON stays USING gist (period) INCLUDE (bed_id);
