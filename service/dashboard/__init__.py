"""The managers' dashboard: a static page over the report routes, no assets from elsewhere."""
