# dcign head image: `dcign dev up --profile cluster` in one container: PostgreSQL 15 (MLflow's store, Temporal's
# persistence and SQL visibility), versitygw (the S3 bucket behind MLflow's artifacts), Temporal's production server
# and its Web UI server, MLflow; all state (databases, bucket, generated credentials, logs) under /data, a volume.
# One image rather than one per service: it is the head the non-container profile runs and tests, started and
# migrated (Temporal's schema, MLflow's database) by the same code at every start, so a lab runs one container with
# one volume. Built by scripts/build-images.sh from a set-up clone (the server binaries and MLflow's virtualenv come
# from its cache):  npm run setup && npx tsc -p tsconfig.json && bash scripts/build-images.sh
# BASE: a Debian bookworm image with Node.js 20; PostgreSQL 15 and Python 3.11 are installed from Debian when it lacks
# them (the public default does; scripts/setup-docker.sh's local dcign-base:bookworm has them).
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
WORKDIR /app
# First, and the same as in worker.Dockerfile, so both images share this layer.
COPY node_modules ./node_modules
RUN if [ ! -x /usr/lib/postgresql/15/bin/postgres ] || ! command -v python3 >/dev/null; then \
      apt-get update && apt-get install -y --no-install-recommends postgresql-15 python3 ca-certificates \
      && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/15/main; fi
COPY cache/versitygw /opt/dcign/bin/versitygw
COPY cache/temporal-server /opt/dcign/temporal-server
# MLflow's virtualenv from the build host: pointed at this image's Python 3.11, its scripts at its new place.
COPY cache/mlflow-venv /opt/dcign/mlflow-venv
RUN cd /opt/dcign/mlflow-venv && for p in python python3 python3.11; do ln -sfn /usr/bin/python3.11 "bin/$p"; done \
    && printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11\n' >pyvenv.cfg \
    && grep -lsIr '^#!.*/bin/python' bin | xargs -r sed -i '1s|^#!.*/bin/python[0-9.]*|#!/opt/dcign/mlflow-venv/bin/python3|' \
    && bin/python3 -c 'import mlflow, psycopg2, boto3'
ENV DCIGN_MLFLOW_BIN=/opt/dcign/mlflow-venv/bin/mlflow \
    DCIGN_VERSITYGW_BIN=/opt/dcign/bin/versitygw \
    DCIGN_TEMPORAL_SERVER_HOME=/opt/dcign/temporal-server \
    DCIGN_POSTGRES_BIN_DIR=/usr/lib/postgresql/15/bin \
    DCIGN_STATE_DIR=/data
COPY package.json ./
COPY dist ./dist
COPY deploy/head-entrypoint.sh /usr/local/bin/dcign-head
# PostgreSQL runs as the `postgres` account and must reach its data directory in here.
RUN mkdir -p /data && chmod 0755 /data
VOLUME /data
# The flags of `dcign dev up` (ports, --host, --allowed-hosts), e.g. --host 0.0.0.0 for workers on other hosts.
ENTRYPOINT ["/usr/local/bin/dcign-head"]
CMD []
