#!/usr/bin/env python3
"""Render, with the INSTALLED upstream Jetstream/mozanalysis, every BigQuery query Jetstream
would run for each case of a cases file, without contacting anything.

    render_upstream.py CASES.json OUTDIR [--case NAME ...] [--non-discrete] [-j N]

Run it with the peer venv's Python (``$HOME/.cache/jetstream/peer-venv/bin/python``).

How: each case runs in a fresh subprocess that invokes upstream's own ``jetstream run`` click
command in-process::

    jetstream run --experiment_slug SLUG --date DATE --config_repos <repo> --config_repos <repo>/jetstream
        [--config_file FILE] --analysis_periods P ... --sql-output-dir OUTDIR/<case> --bucket none
        [--discrete-metrics | --no-discrete-metrics]

so the configs are resolved, and the queries built and written, by upstream's code
(``AnalysisExecutor`` -> ``SerialExecutorStrategy`` -> ``Analysis.run`` -> ``ensure_enrollments`` /
``calculate_metric_for_ds`` -> ``Analysis._write_sql_output``). File names are therefore exactly
upstream's: ``enrollments_<slug>`` and ``<slug>_<basis>_<data source>_<period>_<window index>``
(discrete mode, upstream's default since 2026) or ``<slug>_<basis>_<period>_<window index>``
(``--non-discrete``), slug normalised with ``bq_normalize_name``, no file extension.

Only the edges are replaced (nothing of upstream's query building):

* the Experimenter API: ``jetstream.experimenter.retry_get`` returns the case's experiment JSON;
* BigQuery: ``google.cloud.bigquery.client.Client`` and ``BigQueryReadClient`` are permissive fakes
  (every query "succeeds" with no rows, ``slot_millis = 0``); ``Analysis.run`` only writes a
  query's SQL after executing it, so a fake that succeeds is what makes upstream write its files;
* Dask: ``LocalCluster``/``Client``/``as_completed`` in ``jetstream.analysis`` are replaced by a
  synchronous in-process client (worker processes would not see the fakes); the statistics tasks
  therefore run on empty frames and log errors, which upstream swallows;
* metric-hub: ``--config_repos`` must be git repositories for upstream's loader, so the case's
  ``config_repo`` is copied to a temporary directory and committed once (the corpus is a plain
  directory). As ``jetstream run`` does by default (``METRIC_HUB_REPO`` then ``.../tree/main/jetstream``),
  both the root and its ``jetstream/`` subdirectory are passed, in that order;
* sockets: any connection attempt raises, so nothing can be contacted.

``PYTHONHASHSEED=0`` is enforced (the script re-executes itself), since upstream collects metrics
in sets and data-source aliases (``ds_0``...) and metric column order follow their iteration order.
That is not enough on Python < 3.12: mozanalysis' ``Metric``/``DataSource`` hash fields that are
``None``, and ``hash(None)`` is the object's address there, which ASLR changes on every run. So the
per-case subprocesses run under ``setarch <arch> -R`` (ASLR off) when available, which makes the
output reproducible on a given machine/build (recorded as ``"aslr"`` in the manifest). The order
is still arbitrary, which is why compare_sql.py ignores SELECT-list order by default.

Each ``OUTDIR/<case>/manifest.json`` lists every file with what it is (captured from the frame that
calls ``Analysis._write_sql_output``): kind (enrollments / metrics), period, basis, data source,
window index, analysis window, metrics, plus the case, the mode and the upstream versions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _ensure_hashseed() -> None:
    if os.environ.get("PYTHONHASHSEED") != "0":
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(sys.executable, [sys.executable, *sys.argv], env)


def _resolve(path: str | None, base: Path) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_absolute():
        # relative paths in cases.json are relative to the repository root (tests/mozanalysis/../..)
        cand = (base / p).resolve()
        if not cand.exists():
            cand = (HERE.parent.parent / p).resolve()
        p = cand
    return p


def _git_copy(src: Path, tmp_root: Path) -> Path:
    """Copy a metric-hub-like directory into a fresh git repository with one commit."""
    dst = tmp_root / "metric-hub"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".git"))
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="render",
        GIT_AUTHOR_EMAIL="render@localhost",
        GIT_COMMITTER_NAME="render",
        GIT_COMMITTER_EMAIL="render@localhost",
        GIT_AUTHOR_DATE="2026-01-01T00:00:00Z",
        GIT_COMMITTER_DATE="2026-01-01T00:00:00Z",
    )
    for cmd in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "snapshot", "--no-gpg-sign"],
    ):
        subprocess.run(cmd, cwd=dst, env=env, check=True, stdout=subprocess.DEVNULL)
    return dst


# --------------------------------------------------------------------------------------------
# child: render one case
# --------------------------------------------------------------------------------------------


def _install_fakes(
    experiments_json, manifest: list, runs: list, enable_platforms: dict | None
) -> None:
    import socket

    def _no_network(*_a, **_k):
        raise RuntimeError("render_upstream: network access is disabled")

    socket.socket.connect = _no_network  # type: ignore[method-assign]
    socket.socket.connect_ex = _no_network  # type: ignore[method-assign]
    socket.create_connection = _no_network  # type: ignore[assignment]
    socket.getaddrinfo = _no_network  # type: ignore[assignment]

    import google.auth
    import google.cloud.bigquery.client
    import pandas as pd

    class _FakeJob:
        slot_millis = 0
        total_bytes_processed = 0

        def result(self, *a, **k):
            return []

        def to_dataframe(self, *a, **k):
            return pd.DataFrame()

        def __iter__(self):
            return iter([])

        def __getattr__(self, name):
            return _FakeAny()

    class _FakeAny:
        labels: dict = {}
        description = None

        def __call__(self, *a, **k):
            return _FakeJob()

        def __iter__(self):
            return iter(())

        def __getattr__(self, name):
            return _FakeAny()

    class _FakeBQClient:
        def __init__(self, *a, **k):
            pass

        def query(self, *a, **k):
            return _FakeJob()

        def list_rows(self, *a, **k):
            return _FakeJob()

        def __getattr__(self, name):
            return _FakeAny()

    google.cloud.bigquery.client.Client = _FakeBQClient  # type: ignore[misc]
    google.cloud.bigquery.Client = _FakeBQClient  # type: ignore[misc]

    def _no_auth(*_a, **_k):
        raise RuntimeError("render_upstream: Google credentials are disabled")

    google.auth.default = _no_auth  # type: ignore[assignment]

    import jetstream.bigquery_client as bqc

    bqc.BigQueryReadClient = _FakeBQClient  # type: ignore[misc]

    # Experimenter API -> the case's JSON file
    import jetstream.experimenter as experimenter

    data = experiments_json if isinstance(experiments_json, list) else [experiments_json]

    def _retry_get(session, url, max_retries, user_agent=None):
        base = experimenter.ExperimentCollection.EXPERIMENTER_API_URL_V8
        drafts = experimenter.ExperimentCollection.EXPERIMENTER_API_URL_V8_DRAFTS
        if url.startswith(drafts):
            return []
        if url.rstrip("/") == base.rstrip("/"):
            return data
        slug = url[len(base) :].strip("/")
        for d in data:
            if isinstance(d, dict) and d.get("slug") == slug:
                return d
        raise RuntimeError(f"render_upstream: experiment {slug} not in the case's experiment JSON")

    experimenter.retry_get = _retry_get

    # Dask: synchronous, in-process
    import dask
    import jetstream.analysis as analysis

    class _Future:
        def __init__(self, value=None, error=None):
            self._value, self._error = value, error
            self.status = "error" if error is not None else "finished"

        def result(self):
            if self._error is not None:
                raise self._error
            return self._value

    class _SyncClient:
        def __init__(self, *a, **k):
            pass

        def register_plugin(self, *a, **k):
            pass

        def compute(self, results):
            try:
                values = dask.compute(*results, scheduler="synchronous")
                return [_Future(v) for v in values]
            except Exception:  # one task failed: compute them one by one
                futures = []
                for r in results:
                    try:
                        futures.append(_Future(dask.compute(r, scheduler="synchronous")[0]))
                    except Exception as e:  # upstream logs and swallows task errors
                        futures.append(_Future(error=e))
                return futures

    analysis.LocalCluster = lambda *a, **k: object()  # type: ignore[assignment]
    analysis.Client = _SyncClient  # type: ignore[assignment]
    analysis.as_completed = lambda futures: iter(futures)  # type: ignore[assignment]
    analysis._dask_cluster = None

    if enable_platforms:
        # e.g. monitor_cirrus, commented out in upstream's platform_config.toml
        import jetstream.platform as platform

        for app_name, cfg in enable_platforms.items():
            platform.PLATFORM_CONFIGS[app_name] = platform.Platform(
                enrollments_query_type=cfg.get("enrollments_query_type", "glean-event"),
                app_id=cfg["app_id"],
                app_name=app_name,
            )

    # Manifest: record what each written file is, from the calling frame's locals
    original_write = analysis.Analysis._write_sql_output

    def _write_sql_output(self, destination, sql):
        frame = sys._getframe(1)
        loc = frame.f_locals
        entry: dict = {"file": destination, "function": frame.f_code.co_name}
        if frame.f_code.co_name == "ensure_enrollments":
            tl = loc.get("time_limits")
            entry.update(kind="enrollments")
            if tl is not None:
                entry.update(
                    first_enrollment_date=tl.first_enrollment_date,
                    last_enrollment_date=tl.last_enrollment_date,
                    first_date_data_required=tl.first_date_data_required,
                    last_date_data_required=tl.last_date_data_required,
                )
            entry["enrollments_query_type"] = str(
                self.config.experiment.enrollments_query_type
                or analysis.PLATFORM_CONFIGS[self.config.experiment.app_name].enrollments_query_type
            )
            entry["custom_enrollment_query"] = bool(self.config.experiment.enrollment_query)
            entry["exposure_signal"] = (
                self.config.experiment.exposure_signal.name
                if self.config.experiment.exposure_signal
                else None
            )
            entry["segments"] = [s.name for s in self.config.experiment.segments]
            entry["sample_size"] = self.config.experiment.sample_size
        else:
            entry["kind"] = "metrics"
            period = loc.get("period")
            basis = loc.get("analysis_basis")
            entry["period"] = getattr(period, "value", period)
            entry["basis"] = getattr(basis, "value", basis)
            entry["window_index"] = loc.get("window")
            metrics = loc.get("metrics")
            if loc.get("metric_ds") is not None:
                ds = loc["metric_ds"]
                entry["data_source"] = ds.name
                entry["experiments_column_type"] = ds.experiments_column_type
            else:
                entry["data_source"] = None
            if metrics is not None:
                names = sorted(m.name for m in metrics)
                entry["metrics"] = names
                entry["data_sources"] = sorted(
                    {(m.data_source.name, str(m.data_source.experiments_column_type)) for m in metrics}
                )
            lwl = loc.get("last_window_limits")
            if lwl is not None:
                w = lwl.analysis_windows[-1]
                entry["analysis_window"] = [w.start, w.end]
                entry["first_date_data_required"] = lwl.first_date_data_required
                entry["last_date_data_required"] = lwl.last_date_data_required
            entry["exposure_signal"] = (
                self.config.experiment.exposure_signal.name
                if self.config.experiment.exposure_signal
                else None
            )
        manifest.append(entry)
        return original_write(self, destination, sql)

    analysis.Analysis._write_sql_output = _write_sql_output

    # remember which periods the resolved config has metrics for, and which are due on the date
    original_run = analysis.Analysis.run

    def _run(self, current_date, *a, **k):
        runs.append(
            {
                "configured_periods": [p.value for p, ms in self.config.metrics.items() if ms],
                "due_periods": [
                    p.value
                    for p in self.analysis_periods
                    if self._get_timelimits_if_ready(p, current_date) is not None
                ],
            }
        )
        return original_run(self, current_date, *a, **k)

    analysis.Analysis.run = _run


def _render_one(case: dict, cases_dir: Path, outdir: Path, discrete: bool) -> int:
    import logging
    from importlib.metadata import version

    exp_path = _resolve(case["experiment_json"], cases_dir)
    experiments_json = json.loads(exp_path.read_text())
    manifest: list = []
    runs: list = []
    _install_fakes(experiments_json, manifest, runs, case.get("enable_platforms"))

    case_out = outdir / case["name"]
    if case_out.exists():
        shutil.rmtree(case_out)
    case_out.mkdir(parents=True)

    with tempfile.TemporaryDirectory(prefix="render-upstream-") as tmp:
        repo = _git_copy(_resolve(case.get("config_repo", "/work/shared/corpus/metric-hub"), cases_dir), Path(tmp))
        args = [
            "run",
            "--experiment_slug", case["slug"],
            "--date", case["date"],
            "--bucket", "none",
            "--sql-output-dir", str(case_out),
            "--discrete-metrics" if discrete else "--no-discrete-metrics",
        ]
        args += ["--config_repos", str(repo)]
        if (repo / "jetstream").is_dir():
            args += ["--config_repos", str(repo / "jetstream")]
        if case.get("config_file"):
            args += ["--config_file", str(_resolve(case["config_file"], cases_dir))]
        for p in case.get("periods", []):
            args += ["--analysis_periods", p]

        from jetstream.cli import cli

        logging.getLogger().setLevel(logging.WARNING)
        rc = 0
        try:
            cli.main(args=args, prog_name="jetstream", standalone_mode=False)
        except SystemExit as e:
            rc = int(e.code or 0)

    got_periods = sorted({m["period"] for m in manifest if m["kind"] == "metrics"})
    missing = [p for p in case.get("periods", []) if p not in got_periods]
    configured = runs[0]["configured_periods"] if runs else []
    due = runs[0]["due_periods"] if runs else []
    not_configured = [p for p in missing if p not in configured]
    not_due = [p for p in missing if p in configured and p not in due]
    failed = [p for p in missing if p in configured and p in due]
    info = {
        "case": case,
        "mode": "discrete" if discrete else "non-discrete",
        "upstream_exit_code": rc,
        "versions": {
            p: version(p)
            for p in ("mozilla-jetstream", "mozanalysis", "mozilla-metric-config-parser")
        },
        "pythonhashseed": os.environ.get("PYTHONHASHSEED"),
        "aslr": os.environ.get("RENDER_UPSTREAM_ASLR", "on"),
        "periods_configured": configured,
        "periods_due_on_date": due,
        "periods_without_queries": {
            "no_metrics_configured": not_configured,
            "not_due_on_date": not_due,
            "unexplained": failed,
        },
        "files": sorted(
            # dedupe (a task may be recomputed); last write wins, all writes are identical
            {m["file"]: m for m in manifest}.values(),
            key=lambda m: (m["kind"] != "enrollments", m["file"]),
        ),
    }
    (case_out / "manifest.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    n = len(info["files"])
    print(
        f"[render_upstream] {case['name']}: {n} file(s), upstream exit {rc}"
        + (f"; no metrics configured for {not_configured}" if not_configured else "")
        + (f"; NOT DUE on the date: {not_due}" if not_due else "")
        + (f"; NO QUERIES (unexplained) for {failed}" if failed else ""),
        file=sys.stderr,
    )
    if not any(m["kind"] == "enrollments" for m in info["files"]):
        print(f"[render_upstream] {case['name']}: no enrollments query was written", file=sys.stderr)
        return 2
    if not runs:
        print(f"[render_upstream] {case['name']}: Analysis.run was never reached", file=sys.stderr)
        return 2
    return 2 if (not_due or failed) else 0


# --------------------------------------------------------------------------------------------
# parent
# --------------------------------------------------------------------------------------------


def _no_aslr_prefix() -> list[str]:
    """`setarch <arch> -R`, when available: see the module docstring (hash(None) and ASLR)."""
    import platform

    setarch = shutil.which("setarch")
    if not setarch:
        return []
    prefix = [setarch, platform.machine(), "-R"]
    try:
        subprocess.run([*prefix, "true"], check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return []
    return prefix


def main() -> int:
    _ensure_hashseed()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("cases")
    ap.add_argument("outdir")
    ap.add_argument("--case", action="append", help="only these case names")
    ap.add_argument("--non-discrete", action="store_true", help="render the single metrics query per basis")
    ap.add_argument("-j", "--jobs", type=int, default=min(4, os.cpu_count() or 1), help="cases rendered in parallel")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # child mode
    ns = ap.parse_args()

    cases_path = Path(ns.cases).resolve()
    cases = json.loads(cases_path.read_text())
    if isinstance(cases, dict):
        cases = cases["cases"]
    outdir = Path(ns.outdir).resolve()

    if ns.one:
        case = next(c for c in cases if c["name"] == ns.one)
        return _render_one(case, cases_path.parent, outdir, not ns.non_discrete)

    outdir.mkdir(parents=True, exist_ok=True)
    selected = [c for c in cases if not ns.case or c["name"] in ns.case]
    unknown = sorted(set(ns.case or []) - {c["name"] for c in cases})
    if unknown:
        print(f"[render_upstream] unknown case(s): {unknown}", file=sys.stderr)
        return 2

    prefix = _no_aslr_prefix()
    env = dict(os.environ, PYTHONHASHSEED="0", RENDER_UPSTREAM_ASLR="off" if prefix else "on")

    def run_case(case: dict) -> tuple[dict, int, Path]:
        cmd = [*prefix, sys.executable, str(Path(__file__).resolve()), str(cases_path), str(outdir), "--one", case["name"]]
        if ns.non_discrete:
            cmd.append("--non-discrete")
        log = outdir / f"{case['name']}.log"
        with open(log, "w") as fh:
            r = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env)
        return case, r.returncode, log

    from concurrent.futures import ThreadPoolExecutor

    worst = 0
    with ThreadPoolExecutor(max_workers=max(1, ns.jobs)) as pool:
        for case, returncode, log in pool.map(run_case, selected):
            for line in log.read_text().splitlines():
                if line.startswith("[render_upstream]"):
                    print(line)
            if returncode != 0:
                print(f"[render_upstream] {case['name']}: FAILED (exit {returncode}); see {log}")
                worst = max(worst, 1)
    return worst


if __name__ == "__main__":
    sys.exit(main())
