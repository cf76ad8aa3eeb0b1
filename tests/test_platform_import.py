import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_standard_library_platform_module_is_not_shadowed_from_repository_root():
    # The design card names the platform package `platform/`; that would shadow the standard library module
    # that `uuid` imports, so the package is `ledgerline/`. This guards against anyone re-adding it.
    out = subprocess.run(
        [sys.executable, "-c", "import platform, uuid; print(platform.system()); print(uuid.uuid4().version)"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.split() == [platform_system(), "4"]
    assert not (REPO / "platform").exists()


def platform_system() -> str:
    import platform

    return platform.system()
