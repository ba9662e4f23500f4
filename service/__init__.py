"""abri service layer: the Litestar app, data access, migrations and the CLI."""
