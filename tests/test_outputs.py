"""Output paths checked before the work, files replaced whole, one writer per folder (``radiodiff_lib.outputs``)."""
from __future__ import annotations

import os
import stat

import pytest

from radiodiff_lib.errors import OutputError
from radiodiff_lib.outputs import check_output_file, check_output_folder, folder_lock, write_text_atomic


def test_a_folder_option_naming_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="--out .*f is a file, not a folder"):
        check_output_folder(tmp_path / "f", "--out")
    with pytest.raises(OutputError, match="f is a file, so no folder can be made there"):
        check_output_folder(tmp_path / "f" / "sub", "--out")
    assert check_output_folder(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checked, not made


def test_a_file_option_naming_a_folder_is_refused(tmp_path):
    with pytest.raises(OutputError, match="--json .* is a folder: give a file name"):
        check_output_file(tmp_path, "--json")
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="f is a file, so no folder can be made there"):
        check_output_file(tmp_path / "f" / "a.json", "--json")
    assert check_output_file(tmp_path / "sub" / "a.json", "--json") == tmp_path / "sub" / "a.json"


@pytest.mark.skipif(os.geteuid() == 0, reason="a file's mode does not stop root (tests/test_cli.py "
                    "makes the folder read-only for root too)")
def test_a_read_only_file_is_refused(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("keep")
    target.chmod(0o444)
    with pytest.raises(OutputError, match="cannot write the file"):
        check_output_file(target, "--json")


def test_atomic_write_replaces_whole_keeps_the_mode_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    target.chmod(0o640)
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]
    fresh = write_text_atomic(tmp_path / "sub" / "b.json", "b")
    assert fresh.read_text() == "b"
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~_umask()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_atomic_write_through_a_link_replaces_the_target_not_the_link(tmp_path):
    (tmp_path / "real.json").write_text("old")
    (tmp_path / "link.json").symlink_to("real.json")
    write_text_atomic(tmp_path / "link.json", "new")
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "real.json").read_text() == "new"


def test_a_pipe_is_written_not_replaced(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert check_output_file(fifo, "--json") == fifo
        write_text_atomic(fifo, "through")
        assert os.read(reader, 100) == b"through"
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    finally:
        os.close(reader)


def test_a_lock_planted_as_a_link_is_never_followed(tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / ".lock").symlink_to(victim)
    with pytest.raises(OSError):
        with folder_lock(folder, ".lock", OutputError):
            pass
    assert victim.read_text() == "precious"


def test_a_lock_planted_as_a_pipe_is_refused_saying_what_it_is(tmp_path):
    os.mkfifo(tmp_path / ".lock")
    with pytest.raises(OutputError, match=r"\.lock is a named pipe \(FIFO\), not a regular file; remove it"):
        with folder_lock(tmp_path, ".lock", OutputError):
            pass


def test_the_lock_names_its_holder(tmp_path):
    with folder_lock(tmp_path, ".lock", OutputError):
        with pytest.raises(OutputError, match=f"pid {os.getpid()} on "):
            # flock locks belong to the open file: a second open in the same process is a second writer
            with folder_lock(tmp_path, ".lock", OutputError):
                pass
