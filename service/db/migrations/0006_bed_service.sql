-- When each bed came into service, so that occupancy can be asked of any past moment:
-- a bed counts among the places in service from then, while its facility is open.
-- Existing beds date from their facility's opening (Paris time).
ALTER TABLE beds ADD COLUMN in_service_from timestamptz NOT NULL DEFAULT now();
UPDATE beds b SET in_service_from = (f.opened_on::timestamp AT TIME ZONE 'Europe/Paris')
FROM facilities f WHERE f.id = b.facility_id;
