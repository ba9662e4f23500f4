# syntax=docker/dockerfile:1
# The abri API. Alone it serves an embedded PostgreSQL with the demo data
# (`docker run -p 8000:8000 abri`); with DATABASE_URL it uses that database
# (see compose.yaml).
FROM python:3.11-slim

ARG UV_VERSION=0.13.9
RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
    && useradd --system --uid 10001 --user-group --no-create-home --home-dir /data abri \
    && mkdir /data && chown abri:abri /data

ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PYTHONUNBUFFERED=1 \
    PATH="/app/.venv/bin:$PATH" \
    ABRI_DATA_DIR=/data

WORKDIR /app
# Dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-project
# Then the code, and the project itself (what `uv run --no-dev` would sync).
COPY contracts ./contracts
COPY service ./service
COPY solver ./solver
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev \
    && python -m compileall -q contracts service solver

# The code and the environment stay root-owned and read-only to the app user.
USER abri
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=4)"]
# The venv's `abri` directly (the equivalent of `uv run --no-dev abri`): it is PID 1
# and gets SIGTERM itself, stopping the server (and the embedded PostgreSQL) cleanly.
CMD ["abri", "serve", "--host", "0.0.0.0", "--port", "8000"]
