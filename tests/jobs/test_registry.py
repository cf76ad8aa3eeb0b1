"""One way to run a job: handlers registered by kind, one generic task, retries only for transient errors."""

import ast
from pathlib import Path

import pytest
import redis.exceptions
import yaml
from django.conf import settings as django_settings
from django.db import OperationalError

from ledgerline.jobs.models import Job, JobKind, JobStatus
from ledgerline.jobs.queues import QUEUES, JobQueue
from ledgerline.jobs.registry import UnknownJobKind, job_handler, job_spec, job_specs, job_unregister
from ledgerline.jobs.services import JOB_RUN, job_create, job_enqueue, job_start, retry_delay_s
from ledgerline.jobs.tasks import job_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def handler_of():
    """Register a handler for a kind of the test's own; forgotten afterwards."""
    kinds = []

    def register(kind, handler, **options):
        job_handler(kind, **options)(handler)
        kinds.append(kind)

    yield register
    for kind in kinds:
        job_unregister(kind)


def test_every_job_kind_has_one_handler_on_a_queue_that_celery_declares():
    declared = {queue.name for queue in django_settings.CELERY_TASK_QUEUES}
    assert set(QUEUES) == declared
    specs = job_specs()
    assert set(JobKind.values) <= set(specs)
    assert all(spec.queue in declared for spec in specs.values())
    # The kinds that run a network: training, generating and a model's 50-sample summary.
    on_gpu = {kind for kind in JobKind.values if specs[kind].queue == JobQueue.GPU}
    assert on_gpu == {"train", "generate", "model_stats"}


def test_the_compose_workers_consume_every_queue():
    compose = yaml.safe_load((ROOT / "docker" / "compose.yml").read_text())
    consumed = set()
    for service in compose["services"].values():
        command = service.get("command") or ""
        if isinstance(command, list):
            command = " ".join(command)
        if " worker" in command and "-Q" in command:
            consumed |= set(command.split("-Q", 1)[1].split()[0].split(","))
    assert consumed == set(QUEUES)


def test_a_second_handler_for_a_kind_is_refused_and_an_unknown_queue_too():
    with pytest.raises(ValueError, match="already has a handler"):
        job_handler(JobKind.SPLIT)(lambda job: {})
    with pytest.raises(ValueError, match="unknown queue 'tpu'"):
        job_handler("anything", queue="tpu")
    with pytest.raises(UnknownJobKind, match="no handler is registered for job kind 'nonsense'"):
        job_spec("nonsense")


@pytest.mark.django_db
def test_a_job_is_enqueued_by_kind_on_its_kinds_queue_and_run_by_the_generic_task(handler_of):
    handler_of("test-echo", lambda job: {"echo": job.params["say"]}, queue=JobQueue.GPU)
    job = job_start(kind="test-echo", params={"say": "hi"}, subject_type="track", subject_id=7)
    job.refresh_from_db()
    assert (job.task, job.queue, job.status, job.result) == (JOB_RUN, "gpu", JobStatus.SUCCEEDED, {"echo": "hi"})
    assert (job.subject_type, job.subject_id) == ("track", "7")


@pytest.mark.django_db
def test_a_job_of_an_unknown_kind_fails_with_a_message_naming_the_kind():
    job = job_create(kind="nonsense")
    job_run.apply(args=[str(job.pk)])
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert job.error == "no handler is registered for job kind 'nonsense'"
    with pytest.raises(UnknownJobKind):
        job_enqueue(job=job_create(kind="nonsense"))


@pytest.mark.django_db
def test_a_transient_error_is_retried_with_a_doubling_backoff_until_the_job_succeeds(handler_of, settings):
    settings.LEDGERLINE_JOB_MAX_ATTEMPTS, settings.LEDGERLINE_JOB_RETRY_BACKOFF_S = 5, 2
    seen = []

    def flaky(job):
        seen.append(job.message)
        if len(seen) < 3:
            raise redis.exceptions.ConnectionError("Connection refused")
        return {"runs": len(seen)}

    handler_of("test-flaky", flaky)
    job = job_start(kind="test-flaky")  # the eager runner runs each retry at once, without the countdown
    job.refresh_from_db()
    assert (job.status, job.result, job.attempts, job.error) == (JobStatus.SUCCEEDED, {"runs": 3}, 3, "")
    assert seen[1:] == [
        "attempt 1 of 5 met ConnectionError: Connection refused; trying again in 2 s",
        "attempt 2 of 5 met ConnectionError: Connection refused; trying again in 4 s",
    ]


@pytest.mark.django_db
def test_a_transient_error_that_persists_fails_the_job_after_the_attempt_limit(handler_of, settings):
    settings.LEDGERLINE_JOB_MAX_ATTEMPTS = 3
    runs, failures = [], []

    def database_down(job):
        runs.append(job.attempts)
        raise OperationalError("server closed the connection unexpectedly")

    handler_of("test-down", database_down, on_failure=failures.append)
    job = job_start(kind="test-down")
    job.refresh_from_db()
    assert runs == [1, 2, 3] and [f.pk for f in failures] == [job.pk]
    assert job.status == JobStatus.FAILED
    assert job.error == "OperationalError: server closed the connection unexpectedly (after 3 attempts)"


@pytest.mark.django_db
def test_any_other_error_fails_the_job_once_with_its_message(handler_of):
    runs = []

    def broken(job):
        runs.append(job.attempts)
        raise ValueError("no bars in the score")

    handler_of("test-broken", broken)
    job = job_start(kind="test-broken")
    job.refresh_from_db()
    assert runs == [1]
    assert (job.status, job.error, job.attempts) == (JobStatus.FAILED, "ValueError: no bars in the score", 1)
    assert Job.objects.get(pk=job.pk).status == JobStatus.FAILED


def test_the_backoff_doubles_and_is_capped_by_the_queued_lease(settings):
    settings.LEDGERLINE_JOB_RETRY_BACKOFF_S, settings.LEDGERLINE_JOB_QUEUED_LEASE_S = 2, 20
    assert [retry_delay_s(attempt) for attempt in (1, 2, 3, 4, 5)] == [2, 4, 8, 16, 20]


def _module_of(node: ast.ImportFrom, path: Path) -> str:
    if not node.level:
        return node.module or ""
    package = list(path.relative_to(ROOT).with_suffix("").parts[: -node.level])
    return ".".join(package + ([node.module] if node.module else []))


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, wherever the import statement is (in a function too)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = _module_of(node, path)
            modules |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return modules


def _task_or_handler_module(module: str) -> bool:
    """A `tasks.py` module, or an app's `jobs.py` (handler registrations: they import the services)."""
    path = ROOT.joinpath(*module.split("."))
    return path.name in ("tasks", "jobs") and path.with_suffix(".py").is_file()


def test_services_never_import_a_task_or_job_handler_module():
    services = [
        path
        for path in ROOT.glob("**/services*.py")
        if not {".venv", "var", "node_modules"} & set(path.relative_to(ROOT).parts)
    ]
    services += [p for p in ROOT.glob("**/services/*.py") if ".venv" not in p.parts]
    assert len(services) >= 5
    offenders = {
        str(path.relative_to(ROOT)): sorted(m for m in _imported_modules(path) if _task_or_handler_module(m))
        for path in services
    }
    assert {path: modules for path, modules in offenders.items() if modules} == {}
