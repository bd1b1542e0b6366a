"""`regioncare bench recommend`: the recommender under open-loop load, through Ray Serve and
through the same predictor in plain FastAPI/uvicorn, in one invocation.

Also: scoring 2,000 candidates on one thread (encode + forward), Ray's memory, a promotion
and rollback under load, a replica process killed under load, and the online store (Redis,
as at scale) stopped and started again under load.
The platform of ``settings`` is used as it is; what is missing (region, features, model)
is built first, on the tiny scale.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._load import open_loop, wait_ready
from regioncare.settings import Settings
from serving.app import free_port


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that rebuilds these settings in a child process."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"REGIONCARE_{name.upper()}"] = str(raw)
    return env


def ensure_platform(settings: Settings) -> None:
    """Use the platform as it is; build a tiny one only where nothing was ingested yet."""
    from regioncare.up import prepare_models, prepare_region

    if (settings.offline_dir / "referrals.parquet").exists():
        from features.store import apply, materialize
        from training.registry import champion_version

        apply(settings)
        materialize(settings)
        if champion_version(settings, settings.referral_model_name) is not None:
            return
    region = prepare_region(settings, data=None, scale="tiny", seed=0, say=lambda _m: None)
    prepare_models(settings, region=region, say=lambda _m: None)


def request_bodies(settings: Settings, n: int = 500, seed: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    referrals = pd.read_parquet(settings.offline_dir / "referrals.parquet",
                                columns=["patient_id", "diagnosis_code", "urgency",
                                         "origin_tier"])
    pick = referrals.iloc[rng.integers(0, len(referrals), size=n)]
    return [{"patient_id": r.patient_id, "diagnosis_code": r.diagnosis_code,
             "urgency": r.urgency, "origin_tier": int(r.origin_tier), "k": 10}
            for r in pick.itertuples()]


def score_2000_p99_ms(settings: Settings, repeats: int) -> dict[str, float]:
    """Encode + forward of one referral against 2,000 candidates, one thread."""
    import torch

    from models.referral import CandidateTable, encode
    from serving.predictor import ReferralPredictor

    predictor = ReferralPredictor(settings)
    base = predictor.candidates
    assert base is not None and predictor.bundle is not None
    idx = np.resize(np.arange(len(base)), 2000)
    cands = CandidateTable({k: v[idx] for k, v in base.columns.items()})
    patient = {"home_region": "R1", "age_years": 60, "sex": "female", "n_chronic": 1}
    request = {"diagnosis_code": "I21.4", "urgency": "urgent", "origin_tier": 1}
    model, spec = predictor.bundle.model, predictor.bundle.spec
    torch.set_num_threads(1)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        batch = encode(spec, [patient], [request], [cands])
        with torch.no_grad():
            model(batch.query, batch.cand, batch.numeric)
        times.append((time.perf_counter() - t) * 1000)
    times = times[repeats // 10:]  # warm-up
    return {"score_2000_p50_ms": round(float(np.percentile(times, 50)), 3),
            "score_2000_p99_ms": round(float(np.percentile(times, 99)), 3)}


def ray_memory_mb() -> dict[str, Any]:
    """Memory of the Ray processes this process started (GCS, raylet, HAProxy, workers).

    Only descendants count: another Ray instance on the machine is not ours to measure.
    ``ray_rss_mb`` sums each process's resident set, so a page the processes share (the same
    libtorch, Python and Ray libraries mapped in every worker) counts once per process.
    ``ray_resident_mb`` is the resident set of the processes together: each physical page
    once (read from /proc/PID/pagemap; needs root, else None). ``ray_pss_mb`` splits each
    shared page among all its sharers, this process included.
    """
    import psutil

    rss = pss = 0
    frames: set[int] | None = set()
    each: dict[str, float] = {}
    for proc in psutil.Process().children(recursive=True):
        try:
            mem = proc.memory_full_info()
            title = (proc.cmdline() or [proc.name()])[0]
        except psutil.Error:
            continue
        name = f"{os.path.basename(title.split()[0])[:48]} ({proc.pid})" if title else str(proc.pid)
        each[name] = round(mem.rss / 2**20, 1)
        rss += mem.rss
        pss += getattr(mem, "pss", mem.rss)
        if frames is not None:
            frames = _resident_frames(proc.pid, frames)
    page = os.sysconf("SC_PAGE_SIZE")
    return {"ray_rss_mb": round(rss / 2**20, 1), "ray_pss_mb": round(pss / 2**20, 1),
            "ray_resident_mb": round(len(frames) * page / 2**20, 1) if frames else None,
            "ray_rss_mb_by_process": dict(sorted(each.items(), key=lambda kv: -kv[1]))}


def _resident_frames(pid: int, frames: set[int]) -> set[int] | None:
    """Add the physical frames ``pid`` has resident to ``frames`` (None: not readable)."""
    page = os.sysconf("SC_PAGE_SIZE")
    try:
        with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            for line in maps:
                start, end = (int(x, 16) for x in line.split()[0].split("-"))
                if line.rstrip().endswith("[vsyscall]"):
                    continue
                pagemap.seek(start // page * 8)
                entries = np.frombuffer(pagemap.read((end - start) // page * 8), dtype="<u8")
                present = entries[(entries >> np.uint64(63)) == 1]
                pfns = present & np.uint64((1 << 55) - 1)
                if len(pfns) and not pfns.any():
                    return None  # frame numbers hidden: not root
                frames.update(pfns.tolist())
    except (OSError, ValueError):
        return frames  # the process ended meanwhile
    return frames


def run(settings: Settings, *, quick: bool = False) -> dict[str, Any]:
    from serving import app as serving_app

    rps, seconds = (20.0, 5.0) if quick else (50.0, 60.0)
    ensure_platform(settings)
    bodies = request_bodies(settings)

    def body(i: int) -> dict[str, Any]:
        return bodies[i % len(bodies)]

    result: dict[str, Any] = {"rps": rps, "seconds": seconds, "quick": quick}
    result.update(score_2000_p99_ms(settings, 200 if quick else 1000))

    # Plain FastAPI/uvicorn in its own process, as the Ray replica is in its own.
    port = free_port()
    child = subprocess.Popen([sys.executable, "-m", "serving.plain", "--port", str(port)],
                             env=settings_env(settings), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}/recommend/health")
        url = f"http://127.0.0.1:{port}/recommend"
        open_loop(url, body, rps=rps, seconds=2.0)  # warm-up
        plain = open_loop(url, body, rps=rps, seconds=seconds).summary()
    finally:
        child.terminate()
        child.wait(timeout=30)

    serving_app.start(settings)
    try:
        wait_ready(f"{settings.serve_url}/recommend/health")
        url = f"{settings.serve_url}/recommend"
        open_loop(url, body, rps=rps, seconds=2.0)
        ray_load = open_loop(url, body, rps=rps, seconds=seconds, keep=lambda b: b["degraded"])
        ray = ray_load.summary()
        result["ray_degraded_answers"] = sum(d for _t, d in ray_load.bodies)
        result.update(ray_memory_mb())
        result["swap"] = swap_under_load(settings, url, body, rps=rps, seconds=seconds)
        result["replica_kill"] = kill_replica_under_load(url, body, rps=rps, seconds=seconds,
                                                         bound_ms=BOUND_MS)
    finally:
        serving_app.stop()
    result["store_outage"] = outage_under_load(settings, body, rps=rps, seconds=seconds,
                                               bound_ms=BOUND_MS)

    result.update({
        "ray_p50_ms": ray["p50_ms"], "ray_p99_ms": ray["p99_ms"], "ray_max_ms": ray["max_ms"],
        "plain_p50_ms": plain["p50_ms"], "plain_p99_ms": plain["p99_ms"],
        "plain_max_ms": plain["max_ms"],
        "p99_ratio": round(ray["p99_ms"] / plain["p99_ms"], 3) if plain["p99_ms"] else None,
        "p50_ratio": round(ray["p50_ms"] / plain["p50_ms"], 3) if plain["p50_ms"] else None,
        "errors": ray["errors"] + plain["errors"] + result["swap"]["errors"],
        "replica_kill_error_pct": result["replica_kill"]["error_pct"],
        "ray_errors": ray["errors"],
        "plain_errors": plain["errors"], "requests_per_side": ray["sent"],
    })
    return result


BOUND_MS = 30.0  # the end-to-end p99 bound at 50 requests/s


def replica_pids() -> list[int]:
    """Processes of this Ray instance's recommender replicas (Ray names them in the title)."""
    import psutil

    pids = []
    for proc in psutil.Process().children(recursive=True):
        try:
            title = " ".join(proc.cmdline())
        except psutil.Error:
            continue
        if "ServeReplica" in title and "ReferralRecommender" in title:
            pids.append(proc.pid)
    return pids


def kill_replica_under_load(url: str, body: Any, *, rps: float, seconds: float,
                            bound_ms: float) -> dict[str, Any]:
    """SIGKILL one replica process a third of the way in; count errors and time to recover.

    Recovery: from the kill until the last answer that failed or exceeded ``bound_ms``.
    """
    import signal
    import threading

    marks: dict[str, Any] = {}
    started = time.perf_counter()

    def kill() -> None:
        time.sleep(seconds / 3)
        pids = replica_pids()
        marks["replicas"] = len(pids)
        if pids:
            os.kill(pids[0], signal.SIGKILL)
        marks["kill"] = time.perf_counter() - started

    killer = threading.Thread(target=kill)
    killer.start()
    load = open_loop(url, body, rps=rps, seconds=seconds, keep=lambda b: b["degraded"],
                     record_failures=True)
    killer.join()
    after = [(t, ms) for t, ms in load.timeline if t >= marks.get("kill", seconds)]
    bad = [t for t, ms in after if ms is None or ms > bound_ms]
    return {"replicas_before": marks.get("replicas", 0), "kill_at_s": round(marks["kill"], 2),
            "requests": load.sent, "errors": load.errors,
            "error_pct": round(100.0 * load.errors / max(load.sent, 1), 3),
            "recovered_s": round(max(bad) - marks["kill"], 2) if bad else 0.0,
            "p99_ms": load.summary()["p99_ms"]}


def outage_under_load(settings: Settings, body: Any, *, rps: float, seconds: float,
                      bound_ms: float) -> dict[str, Any]:
    """The Redis online store stopped a third of the way in and started again at two thirds.

    Runs on a copy of the platform's Feast repo materialised into a Redis of its own (the
    at-scale store; an embedded SQLite file cannot be "stopped" under a running reader).
    Redis saves a snapshot before it stops, as a persistent deployment would, so it comes
    back with its data.
    """
    import shutil
    import signal
    import tempfile
    import threading
    from pathlib import Path

    from features.store import apply, materialize
    from serving import app as serving_app

    server = shutil.which("redis-server")
    if server is None:
        return {"skipped": "redis-server is not installed (bash scripts/redis.sh installs it)"}
    home = Path(tempfile.mkdtemp(prefix="rc-outage-"))
    port = free_port()
    shutil.copytree(settings.feast_dir, home / "feast",
                    ignore=shutil.ignore_patterns("online.db", "materialized.json"))
    redis_args = [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                  "--appendonly", "no", "--dir", str(home)]
    proc = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    red = Settings(**{**settings.model_dump(), "home": home, "online_store": "redis",
                      "redis_url": f"redis://127.0.0.1:{port}"})
    marks: dict[str, float] = {}
    try:
        import redis

        client = redis.Redis(host="127.0.0.1", port=port)
        _wait(lambda: client.ping())
        apply(red)
        materialize(red)
        serving_app.start(red)
        url = f"{red.serve_url}/recommend"
        wait_ready(f"{red.serve_url}/recommend/health")
        open_loop(url, body, rps=rps, seconds=2.0)
        started = time.perf_counter()

        def outage() -> None:
            nonlocal proc
            time.sleep(seconds / 3)
            client.save()  # the snapshot a persistent Redis keeps
            marks["stop"] = time.perf_counter() - started
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            time.sleep(seconds / 3)
            marks["start"] = time.perf_counter() - started
            proc = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        mover = threading.Thread(target=outage)
        mover.start()
        load = open_loop(url, body, rps=rps, seconds=seconds, keep=lambda b: b["degraded"],
                         record_failures=True)
        mover.join()
    finally:
        serving_app.stop()
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(home, ignore_errors=True)
    stop, start = marks["stop"], marks["start"]
    down = [(t, d) for t, d in load.bodies if stop + 0.5 <= t < start]
    during = [ms for t, ms in load.timeline if stop <= t < start and ms is not None]
    later = [t for t, d in load.bodies if t >= start and d]
    return {"requests": load.sent, "errors": load.errors,
            "degraded_share_while_down": round(sum(d for _t, d in down) / max(len(down), 1), 3),
            "p99_ms_while_down": round(float(np.percentile(during, 99)), 2) if during else None,
            "normal_again_s": round(max(later) - start, 2) if later else 0.0,
            "p99_ms": load.summary()["p99_ms"]}


def _wait(check: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            check()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def register_copy_of_champion(settings: Settings, *, challenger: bool = False
                              ) -> tuple[str, str]:
    """A second real version (the champion's weights) to move the alias to and back; as
    the challenger, as training registers a new version, where ``challenger``."""
    import shutil
    import tempfile
    from pathlib import Path

    import mlflow

    from training import registry
    from training.referral import EXPERIMENT, _log_pyfunc

    loaded = registry.load_alias(settings, settings.referral_model_name)
    folder = Path(tempfile.mkdtemp()) / "bundle"
    try:
        loaded.bundle.save(folder)
        with mlflow.start_run(experiment_id=registry.experiment(settings, EXPERIMENT),
                              run_name="bench-swap-copy"):
            info = _log_pyfunc(folder, settings.referral_model_name)
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
    version = str(info.registered_model_version)
    if challenger:
        mlflow.MlflowClient().set_registered_model_alias(settings.referral_model_name,
                                                         registry.CHALLENGER, version)
    return loaded.version, version


def swap_under_load(settings: Settings, url: str, body: Any, *, rps: float, seconds: float
                    ) -> dict[str, Any]:
    """Promote a new version a third of the way in, roll back at two thirds, under load.

    The new version is registered as training registers one, as the challenger, and the
    load starts once every replica scores it in shadow (what happens in the days between
    training and promotion).
    """
    import threading

    import httpx

    from training import registry

    name = settings.referral_model_name
    old, new = register_copy_of_champion(settings, challenger=True)
    health = url.rstrip("/") + "/health"

    def shadowed() -> None:  # two replicas answer in turn: ten reads in a row see both
        shadows = {httpx.get(health, timeout=10).json().get("shadow_version")
                   for _ in range(10)}
        if shadows != {new}:
            raise RuntimeError(f"replicas score {shadows} in shadow, not {new}")

    _wait(shadowed, timeout_s=60)
    marks: dict[str, float] = {}
    started = time.perf_counter()

    def switch() -> None:
        time.sleep(seconds / 3)
        marks["promote"] = time.perf_counter() - started
        registry.promote(settings, name, new)
        time.sleep(seconds / 3)
        marks["rollback"] = time.perf_counter() - started
        registry.rollback(settings, name)

    mover = threading.Thread(target=switch)
    mover.start()
    load = open_loop(url, body, rps=rps, seconds=seconds, keep=lambda b: b["model_version"])
    mover.join()
    offset = 0.0  # the load started within milliseconds of `started`

    def settle(after: float, until: float, version: str) -> float | None:
        """Seconds from the move until every later model answer carries ``version`` (the
        rule's answers, with no version, are counted apart)."""
        window = [(t - offset, v) for t, v in load.bodies
                  if after <= t - offset < until and v is not None]
        stale = [t for t, v in window if v != version]
        if not window:
            return None
        return round((max(stale) if stale else after) - after, 2)

    registry.promote(settings, name, old)  # leave the platform as it was
    return {"versions": [old, new], "errors": load.errors, "requests": load.sent,
            "promote_visible_s": settle(marks["promote"], marks["rollback"], new),
            "rollback_visible_s": settle(marks["rollback"], seconds + 60, old),
            "promote_at_s": round(marks["promote"], 2),
            "rollback_at_s": round(marks["rollback"], 2),
            "degraded_at_s": [round(t - offset, 2) for t, v in load.bodies if v is None],
            "p99_ms": load.summary()["p99_ms"]}
