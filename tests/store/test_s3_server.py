"""The S3 API server of the object-storage tests keeps the promises of AWS S3 the artifact store rests on.

Checked through s3fs, the library's client, against the real server process: a create-once write
(``If-None-Match: *``) or a compare-and-swap write (``If-Match: <etag>``) is refused when its condition
no longer holds, and leaves the stored object alone; of racing create-once writes exactly one wins.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

WRITERS, RACES = 20, 30


def client(session=None):
    """A new s3fs client configured by the environment alone, sharing no cache with other clients
    (an aiobotocore ``session`` shared by many clients saves loading the S3 model each time)."""
    import s3fs  # imported by the tests that use it: collecting the suite does not pay for it

    return s3fs.S3FileSystem(skip_instance_cache=True, session=session)


def test_the_artifact_root_is_a_fresh_bucket_reached_through_the_environment(s3_root):
    assert os.environ["IMDB_ARTIFACT_ROOT"] == s3_root
    bucket = s3_root.removeprefix("s3://").split("/")[0]
    assert client().ls(bucket, refresh=True) == []


def pipe_create(fs, path, data):
    fs.pipe_file(path, data, mode="create")


def open_exclusive(fs, path, data):
    with fs.open(path, "xb") as file:
        file.write(data)


@pytest.mark.parametrize("write", [pipe_create, open_exclusive], ids=["pipe_file-create", "open-xb"])
def test_a_create_once_write_of_an_existing_key_fails_and_keeps_the_first_content(s3_root, write):
    fs, path = client(), f"{s3_root}/run/manifest.json"
    write(fs, path, b"first")
    with pytest.raises(FileExistsError):
        write(fs, path, b"second")
    assert fs.cat_file(path) == b"first"


def test_an_empty_file_is_created_once_only_by_pipe_file(s3_root):
    """s3fs commits an empty "xb" file with a plain PUT: an empty marker needs pipe_file(mode="create")."""
    fs, path = client(), f"{s3_root}/run/_SUCCESS"
    fs.pipe_file(path, b"first", mode="create")
    with pytest.raises(FileExistsError):
        fs.pipe_file(path, b"", mode="create")
    assert fs.cat_file(path) == b"first"
    with fs.open(path, "xb"):
        pass
    assert fs.cat_file(path) == b""  # overwritten, no error


def test_a_write_with_a_stale_etag_fails_and_keeps_the_content(s3_root):
    fs, path = client(), f"{s3_root}/registry/current.json"
    fs.pipe_file(path, b"v1")
    stale = fs.info(path)["ETag"]
    fs.pipe_file(path, b"v2")
    with pytest.raises(OSError) as failure:
        fs.pipe_file(path, b"v3", IfMatch=stale)
    assert not isinstance(failure.value, FileExistsError)
    assert failure.value.__cause__.response["Error"]["Code"] == "PreconditionFailed"
    assert fs.cat_file(path) == b"v2"


def test_a_write_with_the_current_etag_replaces_the_content(s3_root):
    fs, path = client(), f"{s3_root}/registry/current.json"
    fs.pipe_file(path, b"v1")
    current = fs.info(path)["ETag"]
    fs.pipe_file(path, b"v2", IfMatch=current)
    assert fs.cat_file(path) == b"v2"
    assert fs.info(path)["ETag"] != current


def test_of_racing_create_once_writes_exactly_one_wins(s3_root):
    from aiobotocore.session import get_session

    session = get_session()
    writers = [client(session) for _ in range(WRITERS)]  # each with its own connections
    for fs in writers:
        fs.connect()  # clients made before the race, so that the writes start together
    start = threading.Barrier(WRITERS, timeout=30)

    def create(writer: int, path: str) -> bool:
        start.wait()
        try:
            writers[writer].pipe_file(path, f"writer {writer}".encode(), mode="create")
        except FileExistsError:
            return False
        return True

    with ThreadPoolExecutor(WRITERS) as pool:
        for race in range(RACES):
            path = f"{s3_root}/race/{race}"
            won = list(pool.map(create, range(WRITERS), [path] * WRITERS))
            winners = [writer for writer, created in enumerate(won) if created]
            assert len(winners) == 1, f"race {race}: writers {winners} all created {path}"
            assert writers[0].cat_file(path) == f"writer {winners[0]}".encode()


def test_listings_are_cached_per_client_until_refreshed(s3_root):
    reader, writer = client(), client()
    reader.pipe_file(f"{s3_root}/runs/a/manifest.json", b"{}")
    assert reader.ls(f"{s3_root}/runs", detail=False) == [f"{s3_root.removeprefix('s3://')}/runs/a"]
    writer.pipe_file(f"{s3_root}/runs/b/manifest.json", b"{}")
    assert len(reader.ls(f"{s3_root}/runs", detail=False)) == 1  # stale: from the reader's cache
    assert len(reader.ls(f"{s3_root}/runs", detail=False, refresh=True)) == 2


@pytest.mark.usefixtures("s3_root")
def test_a_missing_bucket_is_file_not_found():
    fs, path = client(), "s3://imdb-test-no-such-bucket/artifacts/run/manifest.json"
    with pytest.raises(FileNotFoundError):
        fs.pipe_file(path, b"{}", mode="create")
    with pytest.raises(FileNotFoundError):
        fs.cat_file(path)
