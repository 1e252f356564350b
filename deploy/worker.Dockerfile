# dcign worker image: Node.js, the npm dependencies with the native TensorFlow binding and the graph addon (both
# built by scripts/setup-tensorflow.sh), libtensorflow, and the compiled CLI. The worker needs neither Temporal nor
# MLflow: those run on the head (deploy/head.Dockerfile). Built by scripts/build-images.sh, which streams the build
# context (dist/, node_modules/, build/tf-graph/ and the cached libtensorflow) from a set-up clone:
#   npm run setup && npx tsc -p tsconfig.json && bash scripts/build-images.sh
# BASE: any Debian bookworm image with Node.js 20 at /usr/local/bin/node (the default is the public one; with no
# registry in reach, scripts/setup-docker.sh makes dcign-base:bookworm locally and build-images.sh passes it).
# A GPU worker needs the GPU variant (scripts/setup-tensorflow.sh --gpu, on a GPU host) and the NVIDIA container toolkit.
ARG BASE=node:20-bookworm-slim
FROM ${BASE}
WORKDIR /app
# First, and the same as in head.Dockerfile, so both images share this layer.
COPY node_modules ./node_modules
COPY cache/libtensorflow /opt/libtensorflow
# The binding finds libtensorflow through deps/ (its rpath is $ORIGIN/../../deps/lib), which pointed into the build
# host's cache; the graph addon through LD_LIBRARY_PATH.
RUN rm -rf node_modules/@tensorflow/tfjs-node/deps && mkdir node_modules/@tensorflow/tfjs-node/deps \
    && ln -s /opt/libtensorflow/lib node_modules/@tensorflow/tfjs-node/deps/lib \
    && ln -s /opt/libtensorflow/include node_modules/@tensorflow/tfjs-node/deps/include
ENV LD_LIBRARY_PATH=/opt/libtensorflow/lib
COPY package.json ./
COPY build/tf-graph ./build/tf-graph
COPY dist ./dist
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["worker", "--help"]
