"""Hydra callbacks: feedback while a sweep runs."""
from __future__ import annotations

import json
from pathlib import Path

from hydra.experimental.callback import Callback


class SweepReport(Callback):
    """Print one line per finished job of a multirun: its overrides, status and final loss."""

    def on_job_end(self, config, job_return, **kwargs) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN:
            return
        run_json = Path(hc.runtime.output_dir) / "run.json"
        try:
            info = json.loads(run_json.read_text())
        except (OSError, ValueError):
            info = {}
        name = hc.job.override_dirname or "default"
        status = info.get("status") or ("failed" if job_return.status.name == "FAILED" else "?")
        loss = info.get("final_loss")
        extra = f"final loss {loss:.4g}" if isinstance(loss, (int, float)) else ""
        if status != "finished":
            reason = info.get("reason") or (str(job_return._return_value) if job_return.status.name == "FAILED" else "")
            extra = reason
        print(f"[w2vexp] job {name}: {status}{' - ' + extra if extra else ''}", flush=True)
