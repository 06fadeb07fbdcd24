"""Render grafana-dashboard.json's panels from a real run, as dashboard.png.

Grafana itself is not packaged where we build (no Debian or PyPI package), Prometheus is
(Debian's ``prometheus``). So this runs ``sference-server serve`` with the embedded model and its
metrics port, a real Prometheus scraping it every 2 s, and a workload (two batches, responses one
every half second and a consumer long-polling the events feed); then it asks Prometheus for every
panel's expressions, as Grafana would, and draws them in the dashboard's layout::

    uv run --with matplotlib python docs/monitoring/render_dashboard.py --prometheus /usr/bin/prometheus

It takes about six minutes (``--minutes``).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
KEY = "sk_dashboard_0123456789abcdef"
MODEL = "HuggingFaceTB/SmolLM2-135M-Instruct"  # the embedded model


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def start_sference(work: Path, port: int, metrics_port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "HOME": str(work / "home"),
        "SFERENCE_DATA_DIR": str(work / "data"),
        "SFERENCE_PORT": str(port),
        "SFERENCE_ADMIN_API_KEY": KEY,
        "SFERENCE_METRICS_PORT": str(metrics_port),
        "SFERENCE_LOG_LEVEL": "WARNING",
    }
    env.setdefault("SFERENCE_KERNELS_DIR", str(Path.home() / ".cache" / "sference" / "kernels"))
    log = open(work / "sference.log", "wb")  # noqa: SIM115 (lives as long as the process)
    command = [sys.executable, "-m", "sference_server", "serve", "--no-write-cli-credentials"]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def start_prometheus(binary: str, work: Path, port: int, metrics_port: int) -> subprocess.Popen[bytes]:
    config = work / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 2s, evaluation_interval: 2s}\n"
        "scrape_configs:\n"
        f"  - job_name: sference\n    static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]\n"
    )
    log = open(work / "prometheus.log", "wb")  # noqa: SIM115
    command = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={work / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def workload(base: str, minutes: float, stop: threading.Event) -> None:
    """Two batches a minute apart, and responses one every half second read from the feed."""
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=60)

    def batch(name: str, n: int) -> None:
        rows = [
            {"custom_id": f"{name}-{i}", "body": {"model": MODEL, "max_tokens": 24,
                                                  "messages": [{"role": "user", "content": f"Name a colour ({i})."}]}}
            for i in range(n)
        ]  # fmt: skip
        client.post("/v1/batches", json={"window": "24h", "requests": rows}).raise_for_status()

    def consume() -> None:
        cursor = None
        while not stop.is_set():
            params: dict[str, Any] = {"wait_ms": 5000, **({"starting_after": cursor} if cursor else {})}
            page = client.get("/v1/responses/events", params=params).json()
            if page.get("data"):
                cursor = page["data"][-1]["completion_id"]

    threading.Thread(target=consume, daemon=True).start()
    batch("first", 600)
    started = time.monotonic()
    second_sent = False
    while time.monotonic() - started < minutes * 60 and not stop.is_set():
        body = {"model": MODEL, "input": "Say hello in French.", "max_output_tokens": 16, "background": True}
        client.post("/v1/responses", json=body).raise_for_status()
        if not second_sent and time.monotonic() - started > 90:
            batch("second", 300)
            second_sent = True
        time.sleep(0.5)


def legend(template: str, labels: dict[str, str]) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip() or "value"


def gaps_broken(values: list[tuple[Any, float]], step: int) -> tuple[list[Any], list[float]]:
    """The points, with a NaN where samples are missing, so the line breaks there (as Grafana
    draws it) instead of joining across."""
    xs: list[Any] = []
    ys: list[float] = []
    for when, value in values:
        if xs and (when - xs[-1]).total_seconds() > 1.5 * step:
            xs.append(when)
            ys.append(math.nan)
        xs.append(when)
        ys.append(value)
    return xs, ys


def render(prometheus: str, start: float, end: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from datetime import UTC, datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    dashboard = json.loads((HERE / "grafana-dashboard.json").read_text())
    panels = dashboard["panels"]
    rows = max(p["gridPos"]["y"] // 8 for p in panels) + 1
    plt.style.use("dark_background")
    figure, axes = plt.subplots(rows, 2, figsize=(16, 3.4 * rows), facecolor="#111217")
    step = max(2, math.ceil((end - start) / 300))
    for panel in panels:
        axis = axes[panel["gridPos"]["y"] // 8][panel["gridPos"]["x"] // 12]
        axis.set_facecolor("#181b1f")
        axis.set_title(panel["title"], loc="left", fontsize=10, color="#ccccdc")
        unit = panel["fieldConfig"]["defaults"]["unit"]
        drawn = 0
        for target in panel["targets"]:
            params = {"query": target["expr"], "start": start, "end": end, "step": step}
            result = httpx.get(f"{prometheus}/api/v1/query_range", params=params).json()["data"]["result"]
            for series in result:
                values = [(datetime.fromtimestamp(float(t), UTC), float(v)) for t, v in series["values"]]
                values = [(t, v) for t, v in values if math.isfinite(v)]
                if values:
                    xs, ys = gaps_broken(values, step)
                    axis.plot(xs, ys, linewidth=1.2, label=legend(target["legendFormat"], series["metric"]))
                    drawn += 1
        axis.set_xlim(datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC))
        if drawn:
            axis.legend(fontsize=7, loc="upper left", framealpha=0.3)
        else:
            axis.text(0.5, 0.5, "No data", ha="center", va="center", transform=axis.transAxes, color="#8e8e8e")
        axis.set_ylabel({"s": "seconds", "reqps": "per second"}.get(unit, ""), fontsize=8)
        axis.xaxis.set_major_locator(mdates.MinuteLocator())
        axis.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.15)
    figure.suptitle(f"{dashboard['title']} (grafana-dashboard.json, from a real run)", color="#ccccdc")
    figure.tight_layout()
    figure.savefig(out, dpi=80, facecolor=figure.get_facecolor())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True, help="the prometheus binary")
    parser.add_argument("--minutes", type=float, default=5.0, help="how long the workload runs")
    parser.add_argument("--out", type=Path, default=HERE / "dashboard.png")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        port, metrics_port, prometheus_port = free_port(), free_port(), free_port()
        processes = [
            start_sference(work, port, metrics_port),
            start_prometheus(args.prometheus, work, prometheus_port, metrics_port),
        ]
        base, prometheus = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prometheus_port}"
        try:
            wait_for(f"{base}/v1/health/ready")
            wait_for(f"{prometheus}/-/ready")
            start = time.time()
            stop = threading.Event()
            workload(base, args.minutes, stop)
            stop.set()
            time.sleep(20)  # the last scrapes
            render(prometheus, start - 30, time.time(), args.out)
            print(f"wrote {args.out}")
        finally:
            for process in processes:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(30)


if __name__ == "__main__":
    main()
