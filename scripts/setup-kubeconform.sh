#!/usr/bin/env bash
# Installs kubeconform (the Kubernetes manifest validator, Apache-2.0) into $DCIGN_CACHE/bin, built from the Go module
# proxy, and the Kubernetes OpenAPI document it checks deploy/k8s/ against: api/openapi-spec/swagger.json of the
# k8s.io/kubernetes module, fetched through the same proxy. kubeconform's stock schemas are downloaded from GitHub at
# run time; test/deploy.test.ts makes its JSON schemas offline from this document instead
# (test/helpers/k8s-schemas.ts). Idempotent.
set -euo pipefail
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VERSION=v1.36.3
cache=${DCIGN_CACHE:-$HOME/.cache/dcign}
bin=$cache/bin/kubeconform
stamp=$cache/bin/.kubeconform-$KUBECONFORM_VERSION
openapi=$cache/kubernetes-openapi/$KUBERNETES_VERSION/swagger.json
if [[ -x $bin && -f $stamp && -f $openapi ]]; then
  echo "[setup-kubeconform] kubeconform $KUBECONFORM_VERSION and the Kubernetes $KUBERNETES_VERSION OpenAPI already installed"
  exit 0
fi
if ! command -v go >/dev/null; then
  echo "error: the Go toolchain is needed to build kubeconform. Install Go 1.24+ (e.g. apt-get install golang) and re-run." >&2
  exit 1
fi
mkdir -p "$cache/bin" "$(dirname "$openapi")"
if [[ ! -x $bin || ! -f $stamp ]]; then
  echo "[setup-kubeconform] building kubeconform $KUBECONFORM_VERSION with go install"
  GOBIN=$cache/bin GOFLAGS=-trimpath go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  touch "$stamp"
fi
if [[ ! -f $openapi ]]; then
  echo "[setup-kubeconform] fetching the Kubernetes $KUBERNETES_VERSION OpenAPI document (module k8s.io/kubernetes, about 20 MB)"
  dir=$(cd "$(mktemp -d)" && GOFLAGS=-modcacherw go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  cp "$dir/api/openapi-spec/swagger.json" "$openapi.tmp" && mv "$openapi.tmp" "$openapi"
fi
"$bin" -v
