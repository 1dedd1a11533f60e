#!/usr/bin/env bash
# GPU check of issue 13 (teacher cache, lean online teacher) on one CUDA machine, in about 8 minutes.
#
#   bash benchmarks/gpu_check.sh              # on a CUDA machine, from the repository root
#   bash benchmarks/gpu_check.sh --cpu-smoke  # the same pieces on CPU, tiny (checks the script, not CUDA)
#
# Every piece has a timeout; together at most 8 minutes (90 + 2 x 110 + 70 + 2 x 50 s).
# Runs: (1) the device tests on CUDA; (2) one pre-training step at batch 64 in bf16 and in fp32
# (shapes/s, peak GiB; i2pmae online and from the cache); (3) the cache builder on 256 shapes;
# (4) a 1-GPU torchrun (NCCL) smoke: `teacher cache` then 2 steps of `pretrain` from that cache.
# Prints one summary table; logs and JSON stay in $OUT (default: a new temporary folder).
set -u
PY=${PY:-.venv/bin/python}
OUT=${OUT:-$(mktemp -d -t i2pmae-gpu-check-XXXX)}
DEV=cuda
QUICK=()
BATCH=64
SHAPES=256
T=1  # timeout multiplier (a shared CPU is slow)
if [[ "${1:-}" == "--cpu-smoke" ]]; then
    DEV=cpu
    QUICK=(--quick)
    BATCH=2
    SHAPES=8
    T=${T_SCALE:-6}
fi
mkdir -p "$OUT"
declare -a ROWS=()
row() { ROWS+=("$1|$2|$3"); }
status() { if [[ $1 -eq 0 ]]; then echo ok; elif [[ $1 -eq 124 ]]; then echo "TIMEOUT"; else echo "FAILED rc=$1"; fi; }
jget() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, d))" "$1" "$2" 2>/dev/null || echo "?"; }

echo "gpu_check: device $DEV, logs in $OUT"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"

# (1) tests that touch devices (they run every case on CPU and CUDA when present)
timeout $((90 * T)) "$PY" -m pytest -q -x -p no:cacheprovider tests/engine/test_cache_devices.py \
    tests/teachers/test_teacher_lean.py tests/engine/test_engine_optim.py >"$OUT/tests.log" 2>&1
rc=$?
row "device tests ($DEV)" "$(status $rc)" "$(tail -n 1 "$OUT/tests.log")"

# (2) one pre-training step, bf16 and fp32 autocast of the 3D network (teacher: fp16 online), batch 64
for amp in bf16 none; do
    timeout $((110 * T)) "$PY" benchmarks/pretrain_step.py --device "$DEV" --batch "$BATCH" --amp "$amp" --reps 3 \
        --paths online,cache --jobs 4 "${QUICK[@]}" --json "$OUT/step_$amp.json" >"$OUT/step_$amp.log" 2>&1
    rc=$?
    j="$OUT/step_$amp.json"
    row "step batch $BATCH, amp $amp" "$(status $rc)" \
        "online $(jget "$j" "f\"{args['batch']/median['online']:.1f} shapes/s, {peak_bytes['online']/2**30:.2f} GiB\""); cache $(jget "$j" "f\"{args['batch']/median['cache']:.1f} shapes/s, {peak_bytes['cache']/2**30:.2f} GiB; loader {loader_shapes_per_s:.0f} shapes/s\"")"
done

# (3) the cache builder on 256 shapes (random CLIP ViT-B/16, fp16 on CUDA)
timeout $((70 * T)) "$PY" benchmarks/cache_build.py --device "$DEV" --shapes "$SHAPES" --batch-size 64 --teacher-dtypes auto "${QUICK[@]}" \
    --json "$OUT/cache.json" >"$OUT/cache.log" 2>&1
rc=$?
row "cache build, $SHAPES shapes" "$(status $rc)" \
    "$(jget "$OUT/cache.json" "f\"{shapes_per_s:.1f} shapes/s, {bytes_per_shape/2**10:.0f} KiB/shape, ShapeNet-55 {shapenet55_gib:.1f} GiB, peak {peak_gib:.2f} GiB\"")"

# (4) torchrun, 1 process (NCCL on CUDA, gloo on CPU): cache then 2 pre-training steps from it
DATA="$OUT/torchrun-data"
"$PY" -c "import sys; sys.path.insert(0, 'benchmarks'); from pathlib import Path; from pretrain_step import write_shapes; write_shapes(Path(sys.argv[1]), 16)" "$DATA"
COMMON=(-c pretrain/i2p-mae "data.dataset.root=$DATA" teacher.weights=random data.svm=null train.num_workers=2
        train.batch_size=4 train.epochs=1)
[[ $DEV == cpu ]] && COMMON+=("teacher.arch_overrides={depth: 2, embed_dim: 64, num_heads: 2}")
timeout $((50 * T)) "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m i2pmae teacher cache --device "$DEV" \
    --out "$OUT/torchrun-cache" --shard-size 8 "${COMMON[@]}" >"$OUT/torchrun.log" 2>&1 &&
timeout $((50 * T)) "$PY" -m torch.distributed.run --standalone --nproc_per_node=1 -m i2pmae pretrain --device "$DEV" \
    --out "$OUT/torchrun-run" "${COMMON[@]}" "teacher.cache=$OUT/torchrun-cache" train.max_steps=2 >>"$OUT/torchrun.log" 2>&1
rc=$?
row "torchrun 1 proc ($([[ $DEV == cuda ]] && echo NCCL || echo gloo))" "$(status $rc)" \
    "$(grep -o 'global_step: [0-9]*' "$OUT/torchrun.log" | tail -n 1)$( [[ $rc -ne 0 ]] && tail -n 1 "$OUT/torchrun.log")"

echo
echo "| check | result | numbers |"
echo "|---|---|---|"
for r in "${ROWS[@]}"; do
    IFS='|' read -r a b c <<<"$r"
    echo "| $a | $b | $c |"
done
echo
echo "step tables: $OUT/step_bf16.log, $OUT/step_none.log"
