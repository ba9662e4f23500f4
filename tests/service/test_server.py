"""What each served worker does beyond the app: its start-up heap is frozen for the GC."""

import subprocess
import sys

from tests.process import TEST_REFERENCE_KEY

STARTED = """
import asyncio, gc
from service.server import worker_app

async def main():
    app = worker_app()
    before = gc.get_freeze_count()
    async with app.lifespan():
        print(before, gc.get_freeze_count())

asyncio.run(main())
"""


def test_a_worker_freezes_its_start_up_heap_once_started(database_url):
    env = {"DATABASE_URL": database_url, "ABRI_REFERENCE_KEY": TEST_REFERENCE_KEY, "ABRI_LOG_LEVEL": "warning"}
    done = subprocess.run([sys.executable, "-c", STARTED], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    before, after = map(int, done.stdout.split())
    assert before == 0
    assert after > 50_000, "the app, its libraries and the solver's are out of the collector's sight"
