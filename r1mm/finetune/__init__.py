"""Fine-tuning the R1 model on a user's questions and answers about their files.

    model.finetune("my-qa/", epochs=5)          # R1Model delegates here

``data``: the dataset (a folder with ``questions.jsonl``, or rows) and the prompts the app would
give the decoder; ``projectors``: the media projectors tuned to the questions' wording;
``training``: the LoRA (and DP-SGD) run with checkpoints; ``routers``: the routers re-fit after.
"""
from r1mm.finetune.data import QUESTIONS_FILE, QAExample, cite, grounded_questions, read_dataset, training_prompts
from r1mm.finetune.training import FinetuneReport, finetune

__all__ = ["QUESTIONS_FILE", "QAExample", "FinetuneReport", "cite", "finetune", "grounded_questions", "read_dataset",
           "training_prompts"]
