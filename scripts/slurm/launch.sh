#!/usr/bin/env bash
# One node's share of a multi-node hdc pretraining run under SLURM: run by `srun` once per node
# (pretrain.sbatch does that); builds the torchrun line from SLURM's variables and execs it.
#
#   srun bash scripts/slurm/launch.sh [hdc pretrain options and key=value overrides ...]
#
# Needs DATA (dataset root) and RUN (run folder on storage every node sees). Optional: PYTHON (the
# interpreter with hdc-video installed; default python), GPUS_PER_NODE (default: SLURM_GPUS_ON_NODE,
# else the GPUs nvidia-smi lists, else 1), MASTER_ADDR / MASTER_PORT (default: the job's first node,
# 20000 + job id mod 20000). HDC_DRY_RUN=1 prints the command instead of running it.
# The run always starts with --auto-resume: after a requeue it continues from RUN/checkpoint.pt.
set -euo pipefail
: "${DATA:?set DATA to the dataset root}"
: "${RUN:?set RUN to the run folder (on storage every node sees)}"
PYTHON=${PYTHON:-python}
NNODES=${SLURM_NNODES:-${SLURM_JOB_NUM_NODES:-1}}
NODE_RANK=${SLURM_NODEID:-0}
if [ -z "${GPUS_PER_NODE:-}" ]; then
  if [ -n "${SLURM_GPUS_ON_NODE:-}" ]; then
    GPUS_PER_NODE=$SLURM_GPUS_ON_NODE
  elif command -v nvidia-smi >/dev/null 2>&1; then
    GPUS_PER_NODE=$(nvidia-smi -L | wc -l)
  else
    GPUS_PER_NODE=1
  fi
fi
if [ -z "${MASTER_ADDR:-}" ]; then
  if command -v scontrol >/dev/null 2>&1; then
    MASTER_ADDR=$(scontrol show hostnames "${SLURM_JOB_NODELIST:?}" | head -n 1)
  else   # no scontrol (a dry run): the first host of gpu[07-08,11] is gpu07, of a17,b3 a17
    list=${SLURM_JOB_NODELIST:-localhost}
    if [[ $list =~ ^([^,\[]+)\[([0-9]+) ]]; then
      MASTER_ADDR=${BASH_REMATCH[1]}${BASH_REMATCH[2]}
    else
      MASTER_ADDR=${list%%,*}
    fi
  fi
fi
MASTER_PORT=${MASTER_PORT:-$((20000 + ${SLURM_JOB_ID:-0} % 20000))}
cmd=("$PYTHON" -m torch.distributed.run --nnodes "$NNODES" --nproc_per_node "$GPUS_PER_NODE"
     --node_rank "$NODE_RANK" --master_addr "$MASTER_ADDR" --master_port "$MASTER_PORT"
     -m hdc_video pretrain --data "$DATA" --out "$RUN" --auto-resume "$@")
if [ "${HDC_DRY_RUN:-0}" = 1 ]; then
  printf '%q ' "${cmd[@]}"; echo
else
  exec "${cmd[@]}"
fi
