"""The administration commands, `grader serve`, the configuration, the migrations and docker-compose.yml."""

from __future__ import annotations

import csv
import io
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from grader.cli import main
from grader.config import ConfigError, Settings
from service_fixtures import (
    ROOT,
    Process,
    free_port,
    grader_script,
    make_app,
    service_env,
    wait_for,
)


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    env = {key: None for key in ("GRADER_DATABASE_URL", "GRADER_BROKER_URL", "GRADER_ENV", "GRADER_ASSIGNMENTS_DIR")}
    return CliRunner(env={**env, "GRADER_INSTANCE_PATH": str(tmp_path / "instance")})


def test_admin_workflow_users_tokens_gradebook(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    current = runner.invoke(main, ["db", "current"])
    from grader.migrate import head_revision

    head = head_revision()
    assert current.exit_code == 0 and f"{head} (head {head})" in current.output

    added = runner.invoke(main, ["users", "add", "Ann@Example.edu", "--role", "student", "--name", "Ann Lee"])
    assert added.exit_code == 0, added.output
    assert re.match(r"added student ann@example\.edu with password \S{12,}", added.output)
    prof = runner.invoke(main, ["users", "add", "prof@example.edu", "--role", "instructor", "--password", "s3cret-pass"])
    assert prof.output.strip() == "added instructor prof@example.edu"
    again = runner.invoke(main, ["users", "add", "ann@example.edu", "--role", "student"])
    assert again.exit_code == 2 and "already exists" in again.output and "Traceback" not in again.output
    bad_role = runner.invoke(main, ["users", "add", "x@example.edu", "--role", "admin"])
    assert bad_role.exit_code == 2
    listed = runner.invoke(main, ["users", "list"])
    assert "ann@example.edu" in listed.output and "prof@example.edu" in listed.output

    token = runner.invoke(main, ["tokens", "create", "ann@example.edu", "--days", "7"])
    assert token.exit_code == 0
    value = token.stdout.strip().splitlines()[-1]
    assert value.startswith("gr_")
    missing = runner.invoke(main, ["tokens", "create", "nobody@example.edu"])
    assert missing.exit_code == 2 and "no user with the email" in missing.output

    # The token works against the API of an app on the same database.
    # The runner's database, already migrated and filled (an explicit URL: make_app must not replace it).
    app = make_app(tmp_path / "instance", DATABASE_URL=f"sqlite:///{tmp_path / 'instance' / 'grader.sqlite3'}")
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {value}"})
    assert me.json["email"] == "ann@example.edu"

    out = tmp_path / "book.csv"
    exported = runner.invoke(main, ["gradebook", "export", "--csv", str(out)])
    assert exported.exit_code == 0
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0][:6] == ["email", "name", "fc_net", "softmax", "svm", "two_layer_net"]
    assert rows[1][:2] == ["ann@example.edu", "Ann Lee"] and len(rows) == 2  # students only
    stdout = runner.invoke(main, ["gradebook", "export"])
    assert stdout.output == out.read_text()

    regrade = runner.invoke(main, ["regrade"])
    assert regrade.exit_code == 2
    nothing = runner.invoke(main, ["regrade", "--assignment", "svm"])
    assert nothing.exit_code == 0 and "queued 0 submissions" in nothing.output


def test_commands_on_a_database_without_schema_say_what_to_do(runner: CliRunner) -> None:
    result = runner.invoke(main, ["users", "list"])
    assert result.exit_code == 1
    assert "run `grader db upgrade`" in result.output and "Traceback" not in result.output


def test_production_refuses_the_default_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GRADER_SECRET_KEY must be set"):
        Settings.from_env({"GRADER_ENV": "production"})
    Settings.from_env({"GRADER_ENV": "production", "GRADER_SECRET_KEY": "x" * 32}).check_production()
    env = service_env(instance_path=tmp_path / "instance")
    for command in ("serve", "worker"):
        result = subprocess.run([grader_script(), command], capture_output=True, text=True, env=env, timeout=60)
        assert result.returncode == 1
        assert result.stderr.startswith("error: GRADER_SECRET_KEY must be set to a long random value in production")


@pytest.mark.parametrize("variable, value, message", [
    ("GRADER_SWEEP_SECONDS", "soon", "GRADER_SWEEP_SECONDS must be a number, not 'soon'"),
    ("GRADER_MAX_ATTEMPTS", "0", "GRADER_MAX_ATTEMPTS must be at least 1"),
    ("GRADER_LEASE_SECONDS", "10", "GRADER_LEASE_SECONDS must be longer than GRADER_TASK_TIME_LIMIT"),
    ("GRADER_POLICY", "average", "GRADER_POLICY must be one of best, last"),
])
def test_bad_configuration_is_one_clear_line(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({variable: value})
    assert str(info.value).startswith(message)


def test_serve_runs_gunicorn_after_migrations(tmp_path: Path, fresh_postgres: str) -> None:
    port = free_port()
    env = service_env(database_url=fresh_postgres, secret_key="s" * 40, instance_path=tmp_path / "instance",
                      broker_url="memory://")
    early = subprocess.run([grader_script(), "serve", "--port", str(port)], capture_output=True, text=True,
                           env=env, timeout=60)
    assert early.returncode == 1 and "run `grader db upgrade` first" in early.stderr
    assert subprocess.run([grader_script(), "db", "upgrade"], env=env, timeout=60).returncode == 0
    server = Process([grader_script(), "serve", "--port", str(port), "--workers", "1"], env, tmp_path / "serve.log")
    try:
        import requests

        def healthy() -> bool:
            try:
                return requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        wait_for(healthy, 30, "gunicorn to answer")
        assert "gunicorn" in server.output().lower()
        check = subprocess.run([grader_script(), "healthcheck", "web", "--url", f"http://127.0.0.1:{port}"],
                               capture_output=True, text=True, env=env, timeout=30)
        assert check.returncode == 0 and check.stdout.strip() == "web: ok"
    finally:
        server.stop()
    down = subprocess.run([grader_script(), "healthcheck", "web", "--url", f"http://127.0.0.1:{port}"],
                          capture_output=True, text=True, env=env, timeout=30)
    assert down.returncode == 1 and "does not answer" in down.stderr
    worker = subprocess.run([grader_script(), "healthcheck", "worker"], capture_output=True, text=True, env=env,
                            timeout=30)
    assert worker.returncode == 1 and "no fresh heartbeat" in worker.stderr


def test_migrations_match_the_models(tmp_path: Path, fresh_postgres: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from grader import migrate
    from grader.db import Database
    from grader.models import Base

    for url in (f"sqlite:///{tmp_path / 'm.sqlite3'}", fresh_postgres):
        db = Database(url)
        migrate.upgrade(db)
        assert migrate.is_up_to_date(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == [], f"{db.engine.dialect.name}: the models and the migrations differ: {diff}"
        db.engine.dispose()


def _grader_subcommands() -> set[str]:
    return set(main.commands)


def test_docker_compose_names_only_real_commands() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker"} <= set(services)
    assert (ROOT / "Dockerfile").is_file()
    for name, service in services.items():
        assert "healthcheck" in service or name == "migrate", f"{name} has no health check"
        for key in ("command", "entrypoint"):
            if key not in service:
                continue
            command = service[key]
            words = command.split() if isinstance(command, str) else list(command)
            if words and words[0] == "grader":
                assert words[1] in _grader_subcommands(), f"{name}: `grader {words[1]}` does not exist"
                group = main.commands[words[1]]
                if hasattr(group, "commands") and len(words) > 2:
                    assert words[2] in group.commands, f"{name}: `grader {words[1]} {words[2]}` does not exist"
        test = service.get("healthcheck", {}).get("test", [])
        words = [w for w in (test[1:] if test and test[0] in ("CMD", "CMD-SHELL") else test)]
        if words and words[0] == "grader":
            assert words[1] in _grader_subcommands()
    for name in ("web", "worker"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["postgres"]["condition"] == "service_healthy"
    env = {**services["web"]["environment"]} if isinstance(services["web"]["environment"], dict) else {}
    assert "GRADER_SECRET_KEY" in env and "GRADER_DATABASE_URL" in env and "GRADER_BROKER_URL" in env


def test_only_the_worker_is_privileged_and_only_as_the_sandbox_needs() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    privileged_keys = {"privileged", "cap_add", "security_opt", "cgroup", "pid", "ipc", "devices"}
    for name, service in services.items():
        if name == "worker":
            continue
        assert not privileged_keys & set(service), f"{name} must not be privileged"
        assert service.get("user") in (None, "grader"), f"{name} must not run as root"
    worker = services["worker"]
    assert "privileged" not in worker and worker["cap_add"] == ["SYS_ADMIN"]
    assert set(worker["security_opt"]) == {"apparmor=unconfined", "seccomp=unconfined"}
    assert worker["user"] == "root"
    assert "/sys/fs/cgroup:/sys/fs/cgroup:rw" in worker["volumes"]
    assert "libseccomp2" in (ROOT / "Dockerfile").read_text()


def test_readme_documents_every_setting() -> None:
    import dataclasses

    readme = (ROOT / "README.md").read_text()
    for field in dataclasses.fields(Settings):
        assert f"GRADER_{field.name.upper()}" in readme, f"GRADER_{field.name.upper()} is not in the README"
