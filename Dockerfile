# The grader's image: the web app (`grader serve`), the workers (`grader worker`), beat and migrations.
# docker-compose.yml runs it with PostgreSQL and Redis.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN apt-get update \
    && apt-get install -y --no-install-recommends curl libseccomp2 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --uid 10001 grader

WORKDIR /app
COPY . .
# Editable, with the server extra (the plain package is the student's CLI): the code finds assignments/ and
# migrations/ next to itself, as in a checkout.
RUN pip install -e ".[server]" \
    && mkdir -p /instance && chown grader:grader /instance

# The instance folder (beat's schedule) lives outside the code tree.
ENV GRADER_INSTANCE_PATH=/instance \
    GRADER_ENV=production \
    GRADER_PORT=8000
USER grader
EXPOSE 8000
CMD ["grader", "serve", "--host", "0.0.0.0"]
