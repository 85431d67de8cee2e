"""Training: SFT and multi-turn DPO on Magnet's datasets (TRL, PEFT, accelerate, DeepSpeed)."""
