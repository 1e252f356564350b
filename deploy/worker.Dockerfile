# dcign worker image (sketch; not built in CI here). GPU hosts: build the native TensorFlow binding against the
# tensorflow==2.21.0 wheel (CUDA 12) as scripts/setup-tensorflow.sh does for the CPU wheel.
FROM node:20-bookworm
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv build-essential && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
RUN bash scripts/setup.sh && npx tsc -p tsconfig.json
ENTRYPOINT []
