"""Bad inputs raise the right exception, with a message naming what is wrong."""
import os

import pytest

import mq


def test_missing_socket_path_raises_not_found_naming_it(d):
    path = os.path.join(d, "nobody")
    with pytest.raises(mq.NotFound, match="nobody"):
        mq.send(path, b"x")


def test_confirmed_sender_to_missing_socket_raises_not_found(d):
    with pytest.raises(mq.NotFound, match="nobody"):
        mq.ConfirmedSender(os.path.join(d, "nobody")).send(b"x")


def test_queue_in_missing_directory_raises_naming_the_path(d):
    with pytest.raises(mq.Error, match="nodir"):
        mq.Mailbox(socket=None, queue=os.path.join(d, "nodir", "q"))


def test_queue_that_is_a_directory_is_refused(d):
    os.mkdir(os.path.join(d, "adir"))
    with pytest.raises(mq.Error, match="adir"):
        mq.Mailbox(socket=None, queue=os.path.join(d, "adir"))


def test_read_log_of_a_directory_is_invalid_argument(d):
    with pytest.raises(mq.InvalidArgument, match=d):
        mq.read_log(d)


def test_read_log_of_missing_file_is_not_found(d):
    with pytest.raises(mq.NotFound, match="missing"):
        mq.read_log(os.path.join(d, "missing"))


def test_read_log_of_a_non_log_is_not_a_log(d):
    p = os.path.join(d, "text")
    with open(p, "wb") as f:
        f.write(b"this is not a log at all, just some text\n" * 4)
    with pytest.raises(mq.Error, match="text"):
        mq.read_log(p)


def test_locked_queue_raises_busy_naming_the_holder(d):
    with mq.Mailbox(socket=None, queue=os.path.join(d, "q")):
        with pytest.raises(mq.Busy, match=str(os.getpid())):
            mq.Mailbox(socket=None, queue=os.path.join(d, "q"))


def test_socket_path_that_is_a_regular_file_is_left_alone(d):
    p = os.path.join(d, "file")
    open(p, "w").close()
    with pytest.raises(mq.InvalidArgument, match="file"):
        mq.Mailbox(socket=p, queue=os.path.join(d, "q"))
    assert os.path.isfile(p)


def test_oversized_payload_is_too_large(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q"), max_message_size=1024):
        with pytest.raises(mq.TooLarge):
            with mq.ConfirmedSender(os.path.join(d, "s"), reply_timeout=5) as cs:
                cs.send(b"x" * 4096)


def test_payload_larger_than_the_kernel_allows_is_too_large(d):
    with mq.Mailbox(socket=os.path.join(d, "s"), queue=os.path.join(d, "q")):
        with pytest.raises(mq.TooLarge):
            mq.send(os.path.join(d, "s"), b"x" * (64 << 20))


def test_wrong_types_raise_type_error_naming_the_argument(d):
    with pytest.raises(TypeError, match="queue must be"):
        mq.Mailbox(socket=None, queue=42)
    with pytest.raises(TypeError, match="payload must be bytes"):
        mq.send(os.path.join(d, "s"), "text")
    with pytest.raises(TypeError, match="timeout must be"):
        with mq.Mailbox(socket=None, queue=os.path.join(d, "q")) as m:
            m.receive(timeout="soon")


def test_bad_option_values_raise_invalid_argument(d):
    with pytest.raises(mq.InvalidArgument, match="fast"):
        mq.Mailbox(socket=None, queue=os.path.join(d, "q"), sync="fast")
    with pytest.raises(mq.InvalidArgument, match="first:N"):
        mq.Mailbox(socket=None, queue=os.path.join(d, "q"), key="first:x")
    with pytest.raises(ValueError, match=">= 0"):
        with mq.Mailbox(socket=None, queue=os.path.join(d, "q")) as m:
            m.receive(timeout=-1)


def test_errors_carry_the_code_name(d):
    with pytest.raises(mq.NotFound) as e:
        mq.send(os.path.join(d, "nobody"), b"x")
    assert e.value.code == "NotFound"
    assert isinstance(e.value, mq.Error)
