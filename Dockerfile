# The app's image: web (gunicorn), Celery workers and beat all run it (see docker-compose.yml).
# Every tag is pinned; bump them deliberately, with the lock file.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 PYTHONPATH=/app
WORKDIR /app

# The user every process runs as. Named volumes mounted on /app/var/media start out owned by it.
RUN useradd --system --uid 1000 --home-dir /app --shell /usr/sbin/nologin app

# Dependencies first, from the lock file (exact versions and hashes, sentry-sdk included,
# without the embedded server: containers use DATABASE_URL): this layer is rebuilt only when
# requirements/main.txt changes, not on every code edit.
COPY requirements/main.txt /tmp/requirements.txt
RUN pip install --require-hashes --no-deps -r /tmp/requirements.txt && rm /tmp/requirements.txt

# The app itself, once: run from /app (on PYTHONPATH), not installed a second time.
COPY . .
RUN SECRET_KEY=build-only python manage.py collectstatic --noinput \
    && mkdir -p /app/var/media \
    && chown -R app:app /app/var

USER app
EXPOSE 8000
# gunicorn reads gunicorn.conf.py from /app (bind, workers, access log without query strings).
CMD ["gunicorn", "config.wsgi:application"]
