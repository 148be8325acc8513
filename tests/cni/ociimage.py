"""A minimal OCI image made from Debian's busybox-static, for the container runtime tests.

:func:`build` writes, into a directory of the caller's:

* ``rootfs/``: ``/bin/busybox`` plus one symlink per applet the tests use, and the empty
  directories a runtime mounts over (``/proc``, ``/sys``, ``/dev``, ``/tmp``, ``/run``, ``/etc``);
  podman and ``ctr run --rootfs`` can start it as is;
* ``image.tar``: an OCI image layout (``oci-layout``, ``index.json``, blobs for one uncompressed
  layer, the config and the manifest) that ``ctr image import`` accepts; the index names the
  image :data:`IMAGE_NAME` through ``io.containerd.image.name``.

Nothing is downloaded: busybox is copied from the host, so the image is as old as the
installed package. Files are written with fixed owners and times, so the same busybox gives
the same digests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

BUSYBOX = "/bin/busybox"
IMAGE_NAME = "docker.io/romana-test/busybox:latest"
APPLETS = (
    "sh", "cat", "echo", "sleep", "ip", "ping", "nc", "hostname", "ls", "true", "wget",
    "httpd", "mkdir", "kill", "ps",
)  # fmt: skip
EMPTY_DIRS = ("proc", "sys", "dev", "tmp", "run", "etc", "root", "var")


@dataclasses.dataclass(frozen=True, slots=True)
class Image:
    rootfs: Path
    archive: Path
    name: str = IMAGE_NAME


def build(directory: Path, busybox: str = BUSYBOX) -> Image:
    """Write the rootfs and the OCI archive of the busybox image into ``directory``."""
    rootfs = directory / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(busybox, rootfs / "bin" / "busybox")
    os.chmod(rootfs / "bin" / "busybox", 0o755)
    for applet in APPLETS:
        os.symlink("busybox", rootfs / "bin" / applet)
    for name in EMPTY_DIRS:
        (rootfs / name).mkdir()
    (rootfs / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (rootfs / "etc" / "group").write_text("root:x:0:\n")
    archive = directory / "image.tar"
    archive.write_bytes(_layout(_layer(rootfs)))
    return Image(rootfs, archive)


def _layer(rootfs: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(rootfs.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(rootfs)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if info.isfile():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
    return out.getvalue()


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {
        "mediaType": media_type,
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def _layout(layer: bytes) -> bytes:
    """The OCI image layout holding ``layer``, as an uncompressed tar."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
            "rootfs": {
                "type": "layers",
                "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()],
            },
        },
        sort_keys=True,
    ).encode()
    layer_desc = _descriptor("application/vnd.oci.image.layer.v1.tar", layer)
    config_desc = _descriptor("application/vnd.oci.image.config.v1+json", config)
    manifest = json.dumps(
        {"schemaVersion": 2, "config": config_desc, "layers": [layer_desc]}, sort_keys=True
    ).encode()
    manifest_desc = _descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
    manifest_desc["annotations"] = {
        "io.containerd.image.name": IMAGE_NAME,
        "org.opencontainers.image.ref.name": "latest",
    }
    index = json.dumps({"schemaVersion": 2, "manifests": [manifest_desc]}, sort_keys=True)
    files = {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": index.encode(),
    }
    for blob in (layer, config, manifest):
        files["blobs/sha256/" + hashlib.sha256(blob).hexdigest()] = blob
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("blobs", "blobs/sha256"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
