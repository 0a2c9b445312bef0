"""Hydra callbacks: feedback while a sweep runs (SPEC section 8).

Each job of a multirun prints one line when it ends (overrides, status, final loss and analogy
accuracy, or why it failed), so a failed job is known at once; the multirun ends with the
compare table of its runs and the failed jobs named with their reasons, and exits non-zero if
any job failed. Works with every launcher: what the end-of-sweep report needs is read back from
the run folders' run.json files.
"""
from __future__ import annotations

import time
from pathlib import Path

from hydra.experimental.callback import Callback

from .runs import info_or_none


def job_line(name: str, info: dict) -> str:
    status = info.get("status") or "?"
    if status == "finished":
        m = info.get("metrics") or {}
        loss = info.get("final_loss")
        parts = [f"final loss {loss:.4g}" if isinstance(loss, (int, float)) else None,
                 f"analogy {100 * m['analogy_acc']:.2f}%" if isinstance(m.get("analogy_acc"), (int, float)) else None,
                 f"ws353 {m['ws353']:.3f}" if isinstance(m.get("ws353"), (int, float)) else None]
        extra = ", ".join(p for p in parts if p)
    else:
        extra = info.get("reason") or ""
    return f"[w2vexp] job {name}: {status}{' - ' + extra if extra else ''}"


class SweepReport(Callback):
    def __init__(self) -> None:
        self.started = time.time()

    def on_multirun_start(self, config, **kwargs) -> None:
        self.started = time.time() - 1
        # the sweep folder exists before any job, e.g. for the Optuna study's SQLite file
        Path(config.hydra.sweep.dir).mkdir(parents=True, exist_ok=True)

    def on_job_end(self, config, job_return, **kwargs) -> None:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode != RunMode.MULTIRUN:
            return
        info = info_or_none(hc.runtime.output_dir) or {
            "status": "failed" if job_return.status.name == "FAILED" else "?",
            "reason": str(getattr(job_return, "_return_value", "") or "")}
        print(job_line(Path(hc.runtime.output_dir).name, info), flush=True)

    def on_multirun_end(self, config, **kwargs) -> None:
        from .compare import collect, render, sort_key

        sweep = Path(config.hydra.sweep.dir)
        try:
            rows = [r for r in collect(sweep) if (sweep / r["run"] / "run.json").stat().st_mtime >= self.started]
        except Exception as e:  # noqa: BLE001 - a report must not hide the sweep's own result
            print(f"[w2vexp] no summary: {e}", flush=True)
            return
        if not rows:
            return
        rows.sort(key=sort_key)
        print(f"\n[w2vexp] sweep {sweep}: {len(rows)} runs, best first\n" + render(rows, "table", False), flush=True)
        failed = [r for r in rows if r["status"] != "finished"]
        if failed:
            print(f"[w2vexp] {len(failed)} job(s) did not finish: " +
                  "; ".join(f"{r['run']} ({r['status']}: {r['reason']})" for r in failed), flush=True)
            raise SystemExit(1)
