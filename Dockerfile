# The Workspace web image: daphne serving HTTP and the WebSocket.
# docker-compose.yml runs it as the four web processes (two for the pages, two
# for the sockets), the worker and the one-off `migrate` and `static` jobs.
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# gettext: msgfmt for compilemessages; libmagic1: file types read from content;
# the PostgreSQL client tools of the server's major version (docker-compose.yml's
# postgres:16) for `manage.py backup` and `restore` (pg_dump, pg_restore), from
# PostgreSQL's own apt repository: a newer pg_dump writes archives an older
# server's restore cannot take, an older one refuses a newer server.
ARG POSTGRES_CLIENT_MAJOR=16
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext libmagic1 postgresql-common \
    && /usr/share/postgresql-common/pgdg/apt.postgresql.org.sh -y \
    && apt-get install -y --no-install-recommends postgresql-client-${POSTGRES_CLIENT_MAJOR} \
    && rm -rf /var/lib/apt/lists/*

# The processes run as this user; the code stays owned by root, read-only to it.
RUN groupadd --gid 1000 workspace \
    && useradd --uid 1000 --gid workspace --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin workspace

WORKDIR /app

# Dependencies first, so that a code change does not reinstall them: the
# runtime lock (every package pinned, with hashes), as CI tested it.
COPY requirements.lock .
RUN pip install --require-hashes -r requirements.lock

COPY . .

# Collected static files live in the image (the web processes read the
# manifest from there); the `static` job of docker-compose.yml copies them into
# the volume nginx serves. Media (uploads) go to the volume at /data/media.
ENV STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/data/media

# The settings refuse to load without SECRET_KEY when DEBUG is off; this dummy
# exists for this build step only and is not part of the image's environment.
RUN SECRET_KEY=build-only-not-a-secret python manage.py compilemessages --verbosity 0 \
    && SECRET_KEY=build-only-not-a-secret python manage.py collectstatic --noinput --verbosity 0 \
    && mkdir -p /data/media /srv/static /backups \
    && chown workspace:workspace /data/media /srv/static /backups

USER workspace

EXPOSE 8000

# /health/ checks the database. The request must pass the production checks:
# a Host from ALLOWED_HOSTS, and "https" as the proxy would say, or
# SECURE_SSL_REDIRECT would answer with a redirect instead of the status.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; h = next((x.strip().lstrip('.') for x in os.environ.get('ALLOWED_HOSTS', '').split(',') if x.strip() not in ('', '*')), 'localhost'); q = u.Request('http://127.0.0.1:8000/health/', headers={'Host': h, 'X-Forwarded-For': '127.0.0.1', 'X-Forwarded-Proto': 'https'}); raise SystemExit(u.urlopen(q, timeout=4).status != 200)"]

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "workspace.asgi:application"]
