"""romana's container image (``deploy/image/Containerfile``), built for the tests.

The image is built as the Containerfile's header describes, from parts made on this machine:

base
    ``debootstrap --variant=minbase bookworm DIR http://deb.debian.org/debian``, packed into a
    tarball once per machine (:func:`base_tarball`) under ``.cache/romana-image/`` of the
    repository (gitignored), keyed by a hash of the debootstrap arguments and of how the tree
    is slimmed; each build imports it with ``podman import`` as :data:`BASE_IMAGE`. The apt
    caches and lists, the manuals and the translations are left out (as Debian's slim images
    do; the copyright files stay): the Containerfile fetches fresh lists itself.
wheels
    romana's platform wheel with its compiled CNI front, built from this checkout as a packager
    builds it (:func:`support.packaging.build_wheel`), and the wheels of its dependencies at
    the versions installed in this virtual environment (the versions the suite tested),
    downloaded once into the cache (:func:`wheelhouse`). The build installs from them alone,
    without PyPI.
image
    the built image, saved as an OCI archive in the same cache (on a thread, while the tests
    use the image; :meth:`Podman.close` waits for it), keyed by a hash of everything
    the build reads: the Containerfile, the base's key, the tag and version, and the content
    of every wheel in the context (romana's wheel is rebuilt for each run and compared by its
    members, so any change to the checkout's package is a new key). A hit loads the archive
    instead of building (the apt steps alone take half a minute); an archive older than
    :data:`IMAGE_MAX_AGE` is built again so that Debian's updates come in, and a fresh clone
    always builds.

:class:`Podman` is podman with a configuration of its own in a directory of the test's
(``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF``, machine-lab.md §8): storage, run state,
locks and events live there, ``default_ulimits`` stay within this machine's hard limits, and
containers get no network unless a test names one (``netns = "none"``), so no run can set up
podman's default bridge in the namespace it runs in. The runtime directories runc and podman
create machine-wide on first use are removed again when they were new and are empty.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from romana import __version__
from support import packaging, podmanconf

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "romana-image"
CONTAINERFILE = ROOT / "deploy" / "image" / "Containerfile"

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
DEBOOTSTRAP_ARGS = ("--variant=minbase", SUITE)
BASE_IMAGE = f"localhost/romana-base:{SUITE}"
TEST_IMAGE = f"localhost/romana:{__version__}-test"

SLIM = (
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "usr/share/man/*",
    "usr/share/info/*",
    "usr/share/locale/*",
    "usr/share/doc/*/*",
)
"""What the base leaves out of the debootstrapped tree (globs relative to its root), except
the copyright files (:data:`KEEP`)."""
KEEP = "copyright"

MACHINE_DIRS = ("/run/runc", "/var/lib/cni")
"""Created by runc and podman on first use, wherever their configuration points."""

IMAGE_MAX_AGE = 7 * 24 * 3600.0
"""Seconds a cached image archive is loaded instead of built (then Debian's updates come in)."""

BUILD_TIMEOUT = 600.0
COMMAND_TIMEOUT = 120.0


class ImageError(Exception):
    """A step of building or running the image failed; the message carries its output."""


def _run(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        list(argv), env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise ImageError(
            f"{' '.join(argv)} failed ({done.returncode}):\n{done.stdout[-3000:]}"
            f"{done.stderr[-3000:]}"
        )
    return done


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@contextlib.contextmanager
def _cache_lock(name: str) -> Iterator[None]:
    """One builder at a time per cache entry, across processes."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def base_tarball(debootstrap: str = "debootstrap") -> Path:
    """The debootstrapped root file system as a gzipped tarball: cached, built on first use."""
    tarball = CACHE / f"base-{SUITE}-{_key(DEBOOTSTRAP_ARGS, MIRROR, SLIM, KEEP)}.tar.gz"
    with _cache_lock("base"):
        if tarball.exists():
            return tarball
        tree = Path(tempfile.mkdtemp(prefix="debootstrap-", dir=CACHE))
        try:
            _run([debootstrap, *DEBOOTSTRAP_ARGS, str(tree), MIRROR], timeout=BUILD_TIMEOUT)
            _slim(tree)
            partial = tarball.with_suffix(".partial")
            _run(["bash", "-c", 'tar -C "$1" -c . | gzip -1 >"$2"', "tar", str(tree), str(partial)])
            partial.rename(tarball)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
    return tarball


def _slim(tree: Path) -> None:
    for pattern in SLIM:
        for path in list(tree.glob(pattern)):
            if path.name == KEEP:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)


def _requirements(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode()
    return sorted(
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    )


def _installed_versions() -> str:
    """This environment's packages as pip constraints: the versions the suite runs with."""
    done = _run([sys.executable, "-m", "pip", "list", "--format=freeze", "--exclude-editable"])
    return done.stdout


def wheelhouse(wheel: Path, dest: Path) -> None:
    """``wheel`` and the wheels of every dependency it has in ``dest``; the dependencies are
    downloaded once (binary wheels only, so the image needs no compiler) and cached."""
    constraints = _installed_versions()
    key = _key(_requirements(wheel), constraints, sys.version_info[:2], sys.platform)
    cached = CACHE / f"wheels-{key}"
    with _cache_lock("wheels"):
        if not (cached / ".complete").exists():
            shutil.rmtree(cached, ignore_errors=True)
            cached.mkdir(parents=True)
            (cached / "constraints.txt").write_text(constraints)
            download = [sys.executable, "-m", "pip", "download", "--quiet"]
            download += ["--disable-pip-version-check", "--only-binary", ":all:"]
            download += ["--constraint", str(cached / "constraints.txt"), "--dest", str(cached)]
            _run([*download, *_requirements(wheel)], timeout=BUILD_TIMEOUT)
            (cached / ".complete").touch()
    dest.mkdir(parents=True, exist_ok=True)
    for found in cached.glob("*.whl"):
        shutil.copy2(found, dest / found.name)
    shutil.copy2(wheel, dest / wheel.name)


class Podman:
    """podman with its own configuration, storage and state in ``workdir``."""

    def __init__(self, workdir: Path, binary: str = "podman") -> None:
        self.workdir = workdir
        self.binary = binary
        self._new_dirs = podmanconf.MachineDirs(MACHINE_DIRS)
        workdir.mkdir(parents=True, exist_ok=True)
        conf = podmanconf.write(workdir, network_config_dir=workdir / "cni", no_network=True)
        self.env = {**os.environ, **conf}
        self._threads = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="podman")
        self._later: list[concurrent.futures.Future[object]] = []

    def later(self, work: Callable[[], object]) -> None:
        """Run ``work`` (a use of this podman) on a thread meanwhile; :meth:`close` waits for
        it, and raises what it raised once the storage is gone."""
        self._later.append(self._threads.submit(work))

    def argv(self, *args: str) -> list[str]:
        return [self.binary, *args]

    def __call__(
        self, *args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return _run(self.argv(*args), env=self.env, timeout=timeout, check=check)

    def build(self, context: Path, tag: str, base_tarball: Path) -> None:
        """Import the base and build the image from ``context`` (which holds ``wheels/``)."""
        self("import", "--quiet", str(base_tarball), BASE_IMAGE)
        self(
            "build", "--network", "host", "--file", str(CONTAINERFILE),
            "--build-arg", f"BASE={BASE_IMAGE}", "--build-arg", f"VERSION={__version__}",
            "--tag", tag, str(context),
            timeout=BUILD_TIMEOUT,
        )  # fmt: skip

    def close(self) -> list[str]:
        """Remove every container, then the storage; return the mounts and machine
        directories left behind (a clean run returns nothing)."""
        failed = [e for e in (f.exception() for f in self._later) if e is not None]
        self._threads.shutdown()
        self("rm", "--all", "--force", "--time", "0", check=False)
        left = [p for p in _mounts() if p == str(self.workdir) or p.startswith(f"{self.workdir}/")]
        if not left:  # the images' layers, hundreds of megabytes, are not kept for pytest
            shutil.rmtree(self.workdir / "root", ignore_errors=True)
        left += self._new_dirs.clean()
        if failed:
            raise failed[0]
        return left


def _mounts() -> list[str]:
    with open("/proc/self/mounts") as f:
        return [line.split()[1] for line in f]


def _wheel_digest(wheel: Path) -> str:
    """A hash of what ``wheel`` holds, member by member (not of the zip, whose times vary)."""
    digest = hashlib.sha256()
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            digest.update(name.encode() + b"\0" + hashlib.sha256(archive.read(name)).digest())
    return digest.hexdigest()


def image_key(context: Path, base: Path, tag: str) -> str:
    """The cache key of the image built from ``context`` on ``base`` as ``tag``."""
    wheels = {w.name: _wheel_digest(w) for w in sorted((context / "wheels").glob("*.whl"))}
    return _key(CONTAINERFILE.read_text(), base.name, tag, __version__, wheels)


def _fresh(path: Path) -> bool:
    return path.exists() and time.time() - path.stat().st_mtime < IMAGE_MAX_AGE


def build_image(podman: Podman, workdir: Path, tag: str = TEST_IMAGE) -> str:
    """The image built from this checkout with ``podman`` (or loaded from the cache when
    nothing it is built from changed, :func:`image_key`); its tag."""
    context = workdir / "context"
    wheel = packaging.build_wheel(workdir / "dist")
    wheelhouse(wheel, context / "wheels")
    base = base_tarball()
    archive = CACHE / f"image-{image_key(context, base, tag)}.oci.tar"
    with _cache_lock("image"):
        if _fresh(archive):
            podman("load", "--quiet", "--input", str(archive), timeout=BUILD_TIMEOUT)
            return tag
        podman.build(context, tag, base)
    podman.later(lambda: _save(podman, tag, archive))  # while the tests use the image
    return tag


def _save(podman: Podman, tag: str, archive: Path) -> None:
    """``tag`` saved as the cache's one image archive, ``archive``."""
    partial = archive.with_name(f"{archive.name}.{os.getpid()}.partial")
    try:
        podman("save", "--format", "oci-archive", "--output", str(partial), tag)
        with _cache_lock("image"):
            for stale in CACHE.glob("image-*.oci.tar"):  # about 80 MB each
                stale.unlink(missing_ok=True)
            partial.rename(archive)
    finally:
        partial.unlink(missing_ok=True)
