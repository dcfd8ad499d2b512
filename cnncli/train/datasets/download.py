"""Where the datasets' files come from, and fetching them (model/fetch.py: MD5-checked,
atomic, with a timeout); archives unpacked with every member checked."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import sys
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ...errors import UsageError
from ...model.fetch import CHUNK, fetch


@dataclass(frozen=True)
class Source:
    """Where a dataset's files come from and what they must hash to (MD5, as torchvision)."""

    url: str  # folder of the files, or the archive's address
    md5: dict[str, str]  # file (or archive) name -> MD5; a dict so tests can patch an entry
    classes: tuple[str, ...]
    archive: str | None = None  # a tar.gz that unpacks to `folder`
    folder: str | None = None
    tv_name: str | None = None  # torchvision keeps the IDX files in <root>/<tv_name>/raw


SOURCES: dict[str, Source] = {
    "mnist": Source(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
         "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
         "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
         "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
        tuple("0123456789"), tv_name="MNIST"),
    "fashion-mnist": Source(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
         "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
         "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
         "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"), tv_name="FashionMNIST"),
    "kmnist": Source(
        "http://codh.rois.ac.jp/kmnist/dataset/kmnist/",
        {"train-images-idx3-ubyte.gz": "bdb82020997e1d708af4cf47b453dcf7",
         "train-labels-idx1-ubyte.gz": "e144d726b3acfaa3e44228e80efcd344",
         "t10k-images-idx3-ubyte.gz": "5c965bf0a639b31b8f53240b1b52f4d7",
         "t10k-labels-idx1-ubyte.gz": "7320c461ea6c1c855c0b718fb2a4b134"},
        ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"), tv_name="KMNIST"),
    "cifar10": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        {"cifar-10-python.tar.gz": "c58f30108f718f92721af3b95e74349a"},
        (), archive="cifar-10-python.tar.gz", folder="cifar-10-batches-py"),
    "cifar100": Source(
        "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        {"cifar-100-python.tar.gz": "eb9058c3a382ffc7106e4002c42a8d85"},
        (), archive="cifar-100-python.tar.gz", folder="cifar-100-python"),
}


class DatasetUnavailable(UsageError):
    """A dataset's files are neither on disk nor downloadable (as opposed to damaged files)."""

    def __init__(self, message: str, folder: Path, reason: str):
        super().__init__(message)
        self.folder, self.reason = folder, reason


def download_files(name: str, source: Source, files: list[str], root: Path, download: bool,
                    needed: str | None = None) -> None:
    """Fetch files (or the archive) into root, checked, or say which files to put where."""
    needed = needed or ", ".join(files)
    if not download:
        raise DatasetUnavailable(f"{name}: {needed} not found in {root}; put the files there "
                                 "(or point --data-dir at local copies), or allow downloading",
                                 root, "downloads are off")
    for file in files:
        url = source.url if source.archive else source.url + file
        try:
            target = fetch(url, root / file, source.md5[file], "md5", announce=_announce)
        except (OSError, http.client.HTTPException) as exc:
            reason = _why(exc)
            where = f"unpacked from {source.url}" if source.archive else f"from {source.url}"
            raise DatasetUnavailable(f"cannot download {name} from {url} ({reason}); put "
                                     f"{needed} ({where}) in {root}, or point --data-dir at "
                                     "local copies", root, str(reason)) from None
        if source.archive:
            try:
                extract_tar(target, root)
            finally:
                target.unlink()


def _announce(line: str) -> None:
    """Say a download once the server answers (offline, the fallback's note says it all),
    from the first process only under torchrun."""
    if os.environ.get("RANK", "0") == "0":
        print(line, file=sys.stderr, flush=True)


def _why(exc: BaseException) -> str:
    """Why a download failed, in a few words: offline is the common case."""
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, socket.gaierror):
        return "offline"
    if isinstance(reason, TimeoutError):
        return "no answer from the server in time"
    return str(reason)


def extract_tar(archive: Path, root: Path) -> None:
    """Unpack a tar(.gz) into root: only plain files and folders, all inside root.

    Everything lands in a temporary folder first and moves into place at the end, so an
    interrupted or refused unpack leaves nothing half-written in root.
    """
    scratch = Path(tempfile.mkdtemp(prefix=".unpack.", dir=root))
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                dest = _member_path(member, archive, scratch)
                if member.isdir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, open(dest, "wb") as out:
                    shutil.copyfileobj(source, out, CHUNK)
        for entry in scratch.iterdir():
            _move_into(entry, root / entry.name)
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UsageError(f"{archive}: not a readable tar archive ({exc})") from None
    except OSError as exc:
        raise UsageError(f"{archive}: cannot unpack into {root} ({exc})") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _move_into(source: Path, dest: Path) -> None:
    """Move a file or folder into place; a folder already there (partly) is filled in."""
    if source.is_dir() and dest.is_dir():
        for child in source.iterdir():
            _move_into(child, dest / child.name)
    else:
        os.replace(source, dest)


def _member_path(member: tarfile.TarInfo, archive: Path, scratch: Path) -> Path:
    name = member.name
    parts = Path(name).parts
    if not (member.isfile() or member.isdir()):
        raise UsageError(f"{archive}: member {name!r} is a link or device; refusing to unpack")
    if not parts and member.isdir():  # "." in an archive made with `tar -C dir .`
        return scratch
    if name.startswith(("/", "\\")) or Path(name).is_absolute() or ".." in parts or not parts:
        raise UsageError(f"{archive}: member {name!r} points outside the folder; refusing to "
                         "unpack")
    return scratch.joinpath(*parts)
