#!/usr/bin/env bash
# Serve the model the example registered and score one row over HTTP, with no JVM in the process.
#   bash scripts/dev.sh example        # first: trains, logs and registers 'adult-income'
#   bash examples/serve.sh             # serves models:/adult-income/latest, auto runtime (ONNX if verified)
#   RUNTIME=spark bash examples/serve.sh   # the same model through the Spark runtime (needs Java)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"  # mlflow starts uvicorn from PATH
export MLFLOW_TRACKING_URI="sqlite:///$PWD/examples/output/mlflow.db"
export MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK=true
export MLFLOW_SPARKONNX_RUNTIME="${RUNTIME:-auto}"
MODEL_URI="${MODEL_URI:-models:/adult-income/latest}"
PORT="${PORT:-5001}"

mlflow models serve -m "$MODEL_URI" --env-manager local -h 127.0.0.1 -p "$PORT" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
  curl -sf "http://127.0.0.1:$PORT/ping" >/dev/null && break
  kill -0 "$server" 2>/dev/null || { echo "the server exited; see its log above" >&2; exit 1; }
  sleep 0.5
done

curl -s -X POST "http://127.0.0.1:$PORT/invocations" -H 'Content-Type: application/json' -d '{
  "dataframe_split": {
    "columns": ["age", "workclass", "education", "education_num", "marital_status", "occupation",
                "relationship", "sex", "capital_gain", "capital_loss", "hours_per_week"],
    "data": [[39, "State-gov", "Bachelors", 13, "Never-married", "Adm-clerical", "Not-in-family",
              "Male", 2174, 0, 40]]
  }
}'
echo
