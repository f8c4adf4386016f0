"""Fetching raw files: mirror, download cache, origin URL; sha256 always verified."""

from __future__ import annotations

import hashlib

import pytest

from alloyml.errors import ChecksumError, SourceError
from alloyml.sources.fetch import MIRROR_ENV, fetch, sha256_file
from alloyml.sources.registry import FileSpec

PAYLOAD = b"Zn,Mg,ys_mpa\n5.6,2.5,505\n"
SHA = hashlib.sha256(PAYLOAD).hexdigest()
WRONG_SHA = "0" * 64


@pytest.fixture(autouse=True)
def _no_env_mirror(monkeypatch):
    """The developer's $ALLOYML_DATA_MIRROR must not leak into these unit tests."""
    monkeypatch.delenv(MIRROR_ENV, raising=False)


@pytest.fixture
def mirror_dir(tmp_path):
    d = tmp_path / "mirror"
    (d / "al" / "lab").mkdir(parents=True)
    (d / "al" / "lab" / "t.csv").write_bytes(PAYLOAD)
    return d


def _files_under(path):
    return (
        sorted(p.relative_to(path) for p in path.rglob("*") if p.is_file()) if path.exists() else []
    )


def test_sha256_file_matches_hashlib(tmp_path):
    p = tmp_path / "x.bin"
    p.write_bytes(PAYLOAD)
    assert sha256_file(p) == SHA


def test_mirror_hit_with_correct_sha(mirror_dir, tmp_path):
    raw = tmp_path / "raw"
    got = fetch(FileSpec("al/lab/t.csv", SHA), "lab", raw_dir=raw, mirror=mirror_dir)
    assert got == mirror_dir / "al" / "lab" / "t.csv"
    assert got.read_bytes() == PAYLOAD
    assert _files_under(raw) == []  # a mirror hit copies nothing


def test_mirror_from_environment(mirror_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(MIRROR_ENV, str(mirror_dir))
    got = fetch(FileSpec("al/lab/t.csv", SHA), "lab", raw_dir=tmp_path / "raw")
    assert got == mirror_dir / "al" / "lab" / "t.csv"


def test_mirror_sha_mismatch_names_both_hashes(mirror_dir, tmp_path):
    with pytest.raises(ChecksumError) as exc:
        fetch(
            FileSpec("al/lab/t.csv", WRONG_SHA), "lab", raw_dir=tmp_path / "raw", mirror=mirror_dir
        )
    msg = str(exc.value)
    assert WRONG_SHA in msg and SHA in msg
    assert exc.value.source_id == "lab"
    assert isinstance(exc.value, SourceError)


def test_cache_hit_when_not_in_mirror(tmp_path):
    raw = tmp_path / "raw"
    (raw / "al").mkdir(parents=True)
    (raw / "al" / "t.csv").write_bytes(PAYLOAD)
    empty_mirror = tmp_path / "empty_mirror"
    empty_mirror.mkdir()
    got = fetch(FileSpec("al/t.csv", SHA), "lab", raw_dir=raw, mirror=empty_mirror)
    assert got == raw / "al" / "t.csv"


def test_cache_sha_mismatch(tmp_path):
    raw = tmp_path / "raw"
    (raw / "al").mkdir(parents=True)
    (raw / "al" / "t.csv").write_bytes(PAYLOAD + b"tampered\n")
    with pytest.raises(ChecksumError, match=SHA):
        fetch(FileSpec("al/t.csv", SHA), "lab", raw_dir=raw)


@pytest.mark.parametrize("with_mirror", [True, False], ids=["mirror_set", "mirror_unset"])
def test_nowhere_and_no_url(tmp_path, with_mirror):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    with pytest.raises(SourceError, match=MIRROR_ENV) as exc:
        fetch(
            FileSpec("al/t.csv", SHA),
            "lab",
            raw_dir=tmp_path / "raw",
            mirror=mirror if with_mirror else None,
        )
    assert "al/t.csv" in str(exc.value)
    assert not isinstance(exc.value, ChecksumError)


def test_download_from_file_url_is_cached_and_verified(tmp_path):
    origin = tmp_path / "origin" / "upstream name.csv"
    origin.parent.mkdir()
    origin.write_bytes(PAYLOAD)
    raw = tmp_path / "raw"
    spec = FileSpec("al/lab/t.csv", SHA, url=origin.as_uri())
    got = fetch(spec, "lab", raw_dir=raw)
    assert got == raw / "al" / "lab" / "t.csv"
    assert got.read_bytes() == PAYLOAD
    assert _files_under(raw) == [got.relative_to(raw)]  # no .part left over
    # second call: served from the cache, even with the origin gone
    origin.unlink()
    assert fetch(spec, "lab", raw_dir=raw) == got


def test_download_bad_sha_leaves_nothing_behind(tmp_path):
    origin = tmp_path / "origin.csv"
    origin.write_bytes(PAYLOAD)
    raw = tmp_path / "raw"
    spec = FileSpec("al/lab/t.csv", WRONG_SHA, url=origin.as_uri())
    with pytest.raises(ChecksumError) as exc:
        fetch(spec, "lab", raw_dir=raw)
    assert WRONG_SHA in str(exc.value) and SHA in str(exc.value)
    assert _files_under(raw) == []


def test_download_failure_is_source_error(tmp_path):
    raw = tmp_path / "raw"
    spec = FileSpec("al/lab/t.csv", SHA, url=(tmp_path / "does_not_exist.csv").as_uri())
    with pytest.raises(SourceError, match=MIRROR_ENV):
        fetch(spec, "lab", raw_dir=raw)
    assert _files_under(raw) == []


@pytest.mark.realdata
def test_every_declared_source_resolves_from_real_mirror(sources, mirror, tmp_path):
    assert sources, "data/sources.yaml declares no source"
    raw = tmp_path / "raw"
    for sid, spec in sources.items():
        for f in spec.files:
            got = fetch(f, sid, raw_dir=raw, mirror=mirror)
            assert got == mirror / f.path, sid
            assert sha256_file(got) == f.sha256, f"{sid}: {f.path}"
    assert _files_under(raw) == []
