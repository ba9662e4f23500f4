"""How the app factory wires the routes."""

from litestar.routes import HTTPRoute

from service.app import create_app
from service.settings import Settings


def test_every_route_resolves_its_dependencies_one_at_a_time(tmp_path):
    """Litestar resolves dependencies that do not depend on each other in an anyio task
    group (litestar#4563); for `conn` and `caller`, two look-ups, that was 17 % of a
    search's CPU in the app. `caller` takes `conn` so that they come one after the other."""
    app = create_app(Settings(data_dir=tmp_path))
    batches = {
        f"{method} {route.path}": [sorted(dependency.key for dependency in batch) for batch in model.dependency_batches]
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method, (_, model) in route.route_handler_map.items()
    }
    assert batches["GET /v1/availability"] == [["conn"], ["caller"]]
    assert {route: found for route, found in batches.items() if any(len(batch) > 1 for batch in found)} == {}
