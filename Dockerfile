# The procure-to-pay web app; the same image runs migrations, the Celery worker and beat.

# Front-end assets (htmx, Chart.js) from package-lock.json; only their dist/ folders reach
# the final image, not Node or npm.
FROM node:20-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so code changes do not reinstall them. The project itself has no
# installable packages: `pip install .` installs what pyproject.toml depends on.
COPY pyproject.toml requirements.lock ./
RUN pip install -c requirements.lock . && rm -rf build *.egg-info

# STATICFILES_DIRS reads these two folders (p2p/settings.py).
COPY --from=assets /build/node_modules/htmx.org/dist node_modules/htmx.org/dist
COPY --from=assets /build/node_modules/chart.js/dist node_modules/chart.js/dist

# The application only: tests/, bench/ and development files are left out by .dockerignore.
COPY . .

# Collected in production mode so the hashed, compressed files and their manifest exist for
# DJANGO_ENV=production; development mode serves the same directory. The values are dummies
# used only for this build step.
RUN DJANGO_ENV=production SECRET_KEY=build-only-not-secret ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput -v 0

RUN useradd --system --create-home --home-dir /home/p2p p2p \
    && mkdir -p /app/media \
    && chown -R p2p:p2p /app/media
USER p2p

EXPOSE 8000
CMD ["gunicorn", "p2p.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
