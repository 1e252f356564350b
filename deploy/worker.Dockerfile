# dcign worker image: Node 20, the npm dependencies, the native TensorFlow binding (CPU and, for GPU hosts, the
# tensorflow==2.21.0 wheel with its CUDA 12 libraries, as scripts/setup-tensorflow.sh builds them) and the compiled
# CLI. The worker needs neither the Temporal CLI nor MLflow: those run as their own services.
# Not built here (no Docker on the development machines); build from the repository root:
#   docker build -f deploy/worker.Dockerfile -t dcign-worker:latest .
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv python3-pip build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund   # the native binding is built below, not downloaded
COPY . .
RUN bash scripts/setup-tensorflow.sh && bash scripts/setup-tensorflow.sh --gpu && npx tsc -p tsconfig.json
ENTRYPOINT []
CMD ["node", "dist/src/cli/main.js", "worker", "--help"]
