-- A site's distances depend on where it is and when it is active, not on its name,
-- intensity or radius; editing those no longer rebuilds every facility's scene distances
-- (7.3 s at France scale: 23 scene periods × 5,000 facilities).
DROP TRIGGER consumption_sites_scene_distances ON consumption_sites;
CREATE TRIGGER consumption_sites_scene_distances
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF lat, lon, active_from, active_until ON consumption_sites
    FOR EACH STATEMENT EXECUTE FUNCTION sites_changed();
