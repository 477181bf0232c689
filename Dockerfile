# Tenantry web image; the same image runs the worker, `rq cron` and the migrations
# (see docker-compose.yml). Production settings come from the environment; with
# TENANTRY_ENV=production the app refuses to start while any of them is missing.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml ./
COPY tenantry ./tenantry
# The package and its runtime dependencies only; the test extras stay out of the image.
RUN python -m venv /opt/venv && /opt/venv/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TENANTRY_ENV=production \
    TENANTRY_INSTANCE_DIR=/app/instance \
    WEB_CONCURRENCY=3
RUN groupadd --system --gid 10001 tenantry \
 && useradd --system --uid 10001 --gid tenantry --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin tenantry
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY migrations ./migrations
COPY wsgi.py ./
RUN mkdir -p /app/instance && chown tenantry:tenantry /app/instance
USER tenantry:tenantry

EXPOSE 8000
# Gunicorn takes its worker count from WEB_CONCURRENCY (about 2 per CPU core is a good start).
# Migrations are a separate one-shot command, run as the schema owner:
#   TENANTRY_MIGRATE_DATABASE_URL=... flask --app wsgi db upgrade --directory /app/migrations
CMD ["gunicorn", "wsgi:app", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", \
     "--timeout", "60", "--graceful-timeout", "30", "--access-logfile", "-"]
