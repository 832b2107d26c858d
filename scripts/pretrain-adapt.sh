#!/usr/bin/env bash
# Pretrain a small GPT-2-shaped model on one corpus, adapt it to another, and compare
# (docs/RESULTS.md, "Pretrained generators"): MLE on Multi30k's 29,000 English captions
# (lower-cased here, punctuation split by the 13a tokenizer) with a byte-level BPE of 4,000
# tokens; exported as a GPT-2 folder; then 2,000 COCO captions by
#   scratch  the same network and tokenizer, from random weights;
#   mle      full fine-tuning from the pretrained folder;
#   lora     rank-8 adapters on the attention projections, the rest frozen;
#   gail     the mle fine-tune, then TextGAIL (PPO on D's rewards with human captions), its
#            Transformer discriminator started from the generator's trunk;
#   gail-cnn the same with a fresh CNN discriminator, trained harder;
#   zero     the pretrained model as it is (one step at a learning rate of 1e-9);
# and a temperature sweep of all six against the 10,000 COCO test captions.
# Usage: scripts/pretrain-adapt.sh [OUT]   (TEXTGAN_DATA: the data folder; default data/)
set -euo pipefail
cd "$(dirname "$0")/.."
T=${T:-target/release/textgan}
DATA=${TEXTGAN_DATA:-data}
OUT=${1:-runs/pretrain-adapt}
mkdir -p "$OUT/data"
tr '[:upper:]' '[:lower:]' <"$DATA/multi30k/train.en" >"$OUT/data/m30k-train.txt"
tr '[:upper:]' '[:lower:]' <"$DATA/multi30k/val.en" >"$OUT/data/m30k-val.txt"
head -n 2000 "$DATA/coco/train.txt" >"$OUT/data/coco-2k.txt"
TEST="$DATA/coco/test.txt"
NET=(--set generator.kind=gpt2 --set generator.n_layer=2 --set generator.n_head=4
  --set generator.n_embd=128 --set generator.n_positions=64 --set generator.dropout=0.1)
OPT=(--set train.optimizer=adamw --set train.weight_decay=0.01 --set train.schedule=cosine
  --set train.grad_clip=1.0 --set train.eval_samples=500 --set train.device=cpu)
t0=$(date +%s)
"$T" train --out "$OUT/pre" --data "$OUT/data/m30k-train.txt" --test-data "$OUT/data/m30k-val.txt" \
  --set data.pretokenize=13a --set data.tokenizer=bpe --set data.vocab_size=4000 "${NET[@]}" "${OPT[@]}" \
  --set train.epochs=8 --set train.lr=0.002 --set train.warmup_steps=200 --set train.min_lr=0.0001
echo "pretraining: $(($(date +%s) - t0)) s"
"$T" export --run "$OUT/pre" --hf "$OUT/pre-hf"
ADAPT=(--data "$OUT/data/coco-2k.txt" --test-data "$TEST" "${OPT[@]}" --set train.warmup_steps=20)
"$T" train --out "$OUT/scratch" "${ADAPT[@]}" "${NET[@]}" --set data.tokenizer=pretrained \
  --set data.tokenizer_file="\"$OUT/pre-hf/tokenizer.json\"" --set train.epochs=9 --set train.lr=0.002
# (30 epochs reached its best test NLL, 5.026, at epoch 9 and rose to 5.466 by epoch 30.)
"$T" train --out "$OUT/mle" --init-from-hf "$OUT/pre-hf" "${ADAPT[@]}" --set train.epochs=10 \
  --set train.lr=0.0005
"$T" train --out "$OUT/lora" --init-from-hf "$OUT/pre-hf" "${ADAPT[@]}" --set generator.lora_rank=8 \
  --set train.epochs=10 --set train.lr=0.005
"$T" train --out "$OUT/gail" --init-from-hf "$OUT/pre-hf" "${ADAPT[@]}" --set train.epochs=10 \
  --set train.lr=0.0005 --set gan.algorithm=textgail --set gan.loss=rsgan --set gan.steps=100 \
  --set gan.batch_size=64 --set gan.ppo_batch=16 --set gan.d_pretrain_steps=100 --set gan.d_steps=1 \
  --set gan.g_lr=0.00005 --set gan.d_lr=0.0001 --set gan.grad_clip=1.0 --set gan.eval_every=25 \
  --set discriminator.kind=transformer --set discriminator.n_layer=2 --set discriminator.n_head=4 \
  --set discriminator.n_embd=128 --set gan.d_init=generator
"$T" train --out "$OUT/gail-cnn" --init-from-hf "$OUT/pre-hf" "${ADAPT[@]}" --set train.epochs=10 \
  --set train.lr=0.0005 --set gan.algorithm=textgail --set gan.loss=rsgan --set gan.steps=100 \
  --set gan.batch_size=64 --set gan.ppo_batch=16 --set gan.d_pretrain_steps=300 --set gan.d_steps=3 \
  --set gan.g_lr=0.00005 --set gan.d_lr=0.001 --set gan.grad_clip=1.0 --set gan.eval_every=25 \
  --set discriminator.kind=cnn
"$T" train --out "$OUT/zero" --init-from-hf "$OUT/pre-hf" "${ADAPT[@]}" --max-steps 1 \
  --set train.lr=1e-9 --set train.eval_every=1
"$T" sweep --run "$OUT/zero" --run "$OUT/scratch" --run "$OUT/mle" --run "$OUT/lora" --run "$OUT/gail" \
  --run "$OUT/gail-cnn" --label "pretrained only" --label "scratch (2k COCO)" --label "pretrained + MLE" \
  --label "pretrained + LoRA" --label "+ TextGAIL, D from G's trunk" --label "+ TextGAIL, CNN D" \
  --temperatures 0.7,0.85,1.0,1.15 -n 1000 --references "$TEST" --out "$OUT/sweep"
echo "all: $(($(date +%s) - t0)) s"
