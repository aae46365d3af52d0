# The procure-to-pay web app; the same image runs the Celery worker and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Node and npm only to install the front-end assets (htmx, Chart.js) from package-lock.json.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first, so code changes do not reinstall them. The project itself has no
# installable packages: `pip install .` installs what pyproject.toml depends on.
COPY pyproject.toml requirements.lock ./
RUN pip install -c requirements.lock . && rm -rf build *.egg-info

COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

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
