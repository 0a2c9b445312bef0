"""w2vexp's Optuna sweeper for Hydra (`hydra/sweeper=w2vexp_optuna`; see optuna_sweeper.py)."""
