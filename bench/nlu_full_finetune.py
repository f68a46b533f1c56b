"""Experiment: full fine-tuning of the joint NLU on SNIPS (every encoder weight but the word
embeddings), against the committed rank-32 adapters. Prints the dev scores after each epoch; the
model is kept only in OUT_DIR (not an artifact: it is 90 MB).

    python bench/nlu_full_finetune.py --epochs 8 --lr 8e-5 --out /tmp/snips_full
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from dialog.eval.nlu import score_targets
from dialog.infra.encoder import load_encoder
from dialog.nlu.bert import BertNLU, JointFeaturizer, JointModel
from dialog.nlu.train import NLUTrainSpec, training_data
from dialog.train.loop import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = NLUTrainSpec(data="snips", max_length=64, crf=True, lora_rank=32, lora_alpha=64)
    train_targets, dev = training_data(spec, None)  # $TOD_DATA_DIR
    config = BertNLU.labels_for(train_targets, max_length=64, lora_rank=32, lora_alpha=64, crf=True)
    encoder = load_encoder()
    encoder.embeddings.word_embeddings.weight.requires_grad_(False)
    nlu = BertNLU(JointModel(encoder, config), config)
    features = [nlu.featurizer.feature(t) for t in train_targets]
    args.out.mkdir(parents=True, exist_ok=True)

    def evaluate() -> dict[str, float]:
        return score_targets(nlu, dev)

    def checkpoint(_directory: Path) -> None:
        torch.save(nlu.model.state_dict(), args.out / "model.pt")

    loop = TrainConfig(epochs=args.epochs, lr=args.lr, head_lr=2e-3, batch_size=32)
    history = train(
        nlu.model,
        features,
        JointFeaturizer.collate,
        nlu.model.loss,
        loop,
        evaluate,
        key_metric="sentence_accuracy",
        checkpoint=checkpoint,
        out_dir=args.out,
        progress=False,
    )
    print(json.dumps({"best": history["best"], "minutes": history["minutes"]}))


if __name__ == "__main__":
    main()
