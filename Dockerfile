# The Krate Sync image: one image, three commands (docker-compose.yml picks one per service):
#   python -m worker     the Temporal worker (the default)
#   python -m ingress    the ASGI ingress on KRATE_INGRESS_HOST:KRATE_INGRESS_PORT
#   krate-sync migrate   Alembic to head, then exit
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
# Only what the package needs: no .venv, .krate state, tests or benchmarks in the image.
COPY pyproject.toml README.md ./
COPY settings.py worker.py netports.py ./
COPY resources ./resources
COPY store ./store
COPY workflows ./workflows
COPY activities ./activities
COPY providers ./providers
COPY ingress ./ingress
COPY starter ./starter
RUN pip install . \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/krate --create-home krate

# Run from outside the source tree so the installed package is what gets imported.
USER krate
WORKDIR /var/lib/krate
EXPOSE 8080
CMD ["python", "-m", "worker"]
