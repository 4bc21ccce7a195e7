#!/usr/bin/env bash
# Assemble a docker build context for one model: the model directory, this package as a wheel,
# and the Dockerfile that fits it (slim and JVM-free for a verified ONNX graph, with a JRE otherwise).
#   bash examples/docker/make_context.sh MODEL_URI OUT_DIR     # e.g. models:/adult-income@champion
#   docker build -t adult-income OUT_DIR && docker run -p 8080:8080 adult-income
# MLFLOW_TRACKING_URI must point at the store that holds MODEL_URI.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
model_uri="$1"
out="$2"
python="${PYTHON:-$root/.venv/bin/python}"

mkdir -p "$out"
"$python" -m mlflow artifacts download -u "$model_uri" -d "$out/download" >/dev/null
model_dir="$(dirname "$(find "$out/download" -name MLmodel | head -n 1)")"
rm -rf "$out/model" && mv "$model_dir" "$out/model" && rm -rf "$out/download"
"$python" -m pip wheel -q --no-deps "$root" -w "$out"

status="$("$python" -c "import yaml,sys; print(yaml.safe_load(open(sys.argv[1]))['flavors']['sparkonnx']['onnx_status'])" "$out/model/MLmodel")"
if [ "$status" = "verified" ]; then
  cp "$here/Dockerfile.onnx" "$out/Dockerfile"
else
  cp "$here/Dockerfile.spark" "$out/Dockerfile"
fi
echo "ONNX status '$status': wrote $out/Dockerfile ($(head -n 1 "$out/Dockerfile" | sed 's/^# //'))"
